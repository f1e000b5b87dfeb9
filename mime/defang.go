package mime

import (
	"io"
	"sort"
)

// WarningName is the name of the part that takes a defanged part's place.
const WarningName = "WARNING.TXT"

// WarningHeader is the header of the warning part, and the Content-Type
// of a message that was one banned part.
const WarningHeader = "Content-Type: text/plain; charset=us-ascii; name=\"" + WarningName + "\"\r\n" +
	"Content-Disposition: inline; filename=\"" + WarningName + "\"\r\n" +
	"Content-Transfer-Encoding: 7bit\r\n"

// Warning is the text that replaces a banned part: what it was, why it
// went, and where the original is kept.
func Warning(p Part, keptAt string) string {
	return "WARNING: this message contained an attachment that can carry a virus\r\n" +
		"or a worm. The mail filter removed it:\r\n\r\n" +
		"    " + printable(p.Name, 200) + "\r\n" +
		"    (" + printable(p.Reason, 200) + ")\r\n\r\n" +
		"The original message is kept at\r\n\r\n" +
		"    " + printable(keptAt, 400) + "\r\n\r\n" +
		"If you need the attachment, ask your mail administrator for it and\r\n" +
		"quote that location.\r\n"
}

// printable makes s safe for a us-ascii text: other characters become
// '?', and it is cut at n bytes.
func printable(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Defang writes the body with every banned part replaced by the warning
// for it: a part of its own (WarningHeader and the text) where it was
// one part of a multipart, the bare text where it was the whole message
// (Top; the caller changes the message's header). A Clean part is written
// again without its active content (clean). All other bytes are copied
// as they were.
func Defang(w io.Writer, body io.ReaderAt, size int64, banned []Part, keptAt string) error {
	parts := append([]Part(nil), banned...)
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Start < parts[j].Start })
	var at int64
	for _, p := range parts {
		if p.Start < at { // a second leaf in the same region, already replaced
			continue
		}
		if _, err := io.Copy(w, io.NewSectionReader(body, at, p.Start-at)); err != nil {
			return err
		}
		at = p.End
		if p.Clean {
			if err := clean(w, body, p); err != nil {
				return err
			}
			continue
		}
		text := Warning(p, keptAt)
		if !p.Top {
			text = WarningHeader + "\r\n" + text
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	_, err := io.Copy(w, io.NewSectionReader(body, at, size-at))
	return err
}
