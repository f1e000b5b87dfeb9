package policy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/safefile"
	"github.com/maxwell-milter/maxwell/internal/spool"
	"github.com/maxwell-milter/maxwell/mime"
)

// Body takes a chunk of the message body. It is spooled (memory, then a
// file past [milter] spool_threshold) up to [milter] max_scan_size.
func (s *Session) Body(chunk []byte) {
	m := s.Msg
	if m == nil {
		return
	}
	m.dkimBody(chunk)
	if m.bodyErr != nil {
		return
	}
	if m.body == nil {
		c := &s.e.cfg.Milter
		m.body = spool.New(s.e.cfg.SpoolDir(), int64(c.SpoolThreshold), int64(c.MaxScanSize))
	}
	if _, err := m.body.Write(chunk); err != nil {
		m.bodyErr = err
	}
}

// checkAttachments scans the message for attachments that can carry a
// virus (bms.py's defang): each is replaced by WARNING.TXT, the original
// message saved under datadir/save/. Mail from [scrub]
// reject_virus_from domains is refused instead, and external mail that
// cannot be defanged safely (malformed) is refused ([defang] malformed).
func checkAttachments(s *Session) (*Decision, error) {
	m, cfg := s.Msg, s.e.cfg
	if m.bodyErr != nil {
		return nil, fmt.Errorf("spooling the body: %w", m.bodyErr)
	}
	var body io.ReaderAt = strings.NewReader("")
	var size int64
	if m.body != nil {
		if m.body.Truncated() {
			return s.largeMessage(), nil
		}
		body, size = m.body, m.body.Size()
	}
	res := mime.Scan(m.header, body, size, &s.e.mimeOptions)
	why := res.Malformed
	if m.headersCut { // a Content-Type past the limit would go unseen
		why = fmt.Sprintf("more than %d header fields or %d bytes of header: the MIME structure is not known", maxHeaders, maxHeaderBytes)
	}
	var path string // where the original is saved
	if why != "" {
		var err error
		if path, err = s.saveOriginal("malformed", body, size); err != nil {
			return nil, err
		}
		if d := s.malformed(why); d != nil {
			return d, nil
		}
	}
	banned := res.Banned
	if len(banned) == 0 {
		return nil, nil
	}
	var virus *mime.Part // the first part replaced, not cleaned
	for i, p := range banned {
		if p.Clean {
			s.log("html", "name", p.Name, "removed", p.Reason, "type", p.Type)
			continue
		}
		s.log("defang", "name", p.Name, "reason", p.Reason, "type", p.Type)
		m.rep.defanged = true
		if virus == nil {
			virus = &banned[i]
		}
	}
	if virus != nil && m.Domain != "" && config.MatchDomain(cfg.Scrub.RejectVirusFrom, m.Domain) {
		return reject(550, "5.7.1", fmt.Sprintf("attachment %s: %s", virus.Name, virus.Reason),
			"Attachment type not allowed"), nil
	}
	if path == "" {
		var err error
		if path, err = s.saveOriginal("defang", body, size); err != nil {
			return nil, err
		}
	}
	keptAt := s.hostname() + ":" + path
	for _, p := range banned {
		switch {
		case p.Top && p.Clean:
			s.setTopField("Content-Transfer-Encoding", "quoted-printable", true)
		case p.Top:
			s.replaceTopHeader()
		}
	}
	s.AddEdit(Edit{Kind: ReplaceBody, Body: func(w io.Writer) error {
		return mime.Defang(w, body, size, banned, keptAt)
	}})
	return nil, nil
}

// replaceTopHeader makes a message that was one banned part announce the
// warning text that replaces it.
func (s *Session) replaceTopHeader() {
	s.setTopField("Content-Type", `text/plain; charset=us-ascii; name="`+mime.WarningName+`"`, true)
	s.setTopField("Content-Transfer-Encoding", "7bit", false)
	s.setTopField("Content-Disposition", `inline; filename="`+mime.WarningName+`"`, false)
}

// setTopField makes the message's header field name say value: the
// first such field is changed and any other deleted (fields a scan took
// as agreeing would disagree then); one that is absent is added if
// insert.
func (s *Session) setTopField(name, value string, insert bool) {
	n := 0
	for _, h := range s.Msg.header {
		if h.Is(name) {
			n++
		}
	}
	switch {
	case n > 0:
		s.AddEdit(Edit{Kind: ChangeHeader, Name: name, Value: value, Index: 1})
	case insert:
		s.AddEdit(Edit{Kind: InsertHeader, Name: name, Value: value, Index: 1})
	}
	for i := n; i > 1; i-- {
		s.AddEdit(Edit{Kind: DeleteHeader, Name: name, Index: i})
	}
}

// largeMessage answers a body past [milter] max_scan_size as [milter]
// large_message says.
func (s *Session) largeMessage() *Decision {
	reason := fmt.Sprintf("Large message: over %d bytes, not scanned", s.e.cfg.Milter.MaxScanSize)
	switch s.e.cfg.Milter.LargeMessage {
	case config.LargeTempfail:
		return tempfail(452, "4.3.4", reason, "Message too large to scan, try again later")
	case config.LargeReject:
		return reject(552, "5.3.4", reason, "Message too large to scan")
	}
	s.log("note", "reason", reason)
	return nil
}

// malformed answers a message that cannot be defanged safely (its
// original saved): external mail is refused, or held in the MTA's
// quarantine, as [defang] malformed says; nil lets it through, defanged
// as far as the scan went.
func (s *Session) malformed(why string) *Decision {
	reason := "MALFORMED: " + why
	if s.Class&Internal == 0 {
		switch s.e.cfg.Defang.Malformed {
		case config.MalformedReject:
			return reject(554, "5.7.7", reason, "Cannot check this message for dangerous attachments")
		case config.MalformedQuarantine:
			return &Decision{Action: Quarantine, Tag: "QUARANTINE", Reason: reason}
		}
	}
	s.log("note", "reason", reason)
	return nil
}

// saveOriginal keeps the message as received under datadir/save/, in a
// file (mode 0600) whose name maxwell makes up: time, connection, random.
func (s *Session) saveOriginal(why string, body io.ReaderAt, size int64) (string, error) {
	dir := s.e.cfg.SaveDir()
	if err := safefile.MakeDir(dir); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf("%s-%d-*.eml", s.e.now().UTC().Format("20060102T150405"), s.ID))
	if err != nil {
		return "", err
	}
	w := bufio.NewWriter(f)
	for _, h := range s.Msg.header {
		fmt.Fprintf(w, "%s: %s\r\n", h.Name, h.Value)
	}
	w.WriteString("\r\n")
	_, err = io.Copy(w, io.NewSectionReader(body, 0, size))
	if err = errors.Join(err, w.Flush(), f.Close()); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("saving the original: %w", err)
	}
	path, _ := filepath.Abs(f.Name())
	s.log("temp file", "path", path, "why", why)
	return path, nil
}

// mimeOptions are the scan settings of a configuration.
func mimeOptions(cfg *config.Config, tempDir string) mime.Options {
	d := cfg.Defang
	return mime.Options{
		BannedExts: d.BannedExts, ScanZip: d.ScanZip, ZipDepth: d.ZipDepth,
		ZipMaxExpand: int64(d.ZipMaxExpand), ZipMaxEntries: d.ZipMaxEntries, ScanRFC822: d.ScanRFC822, ScanHTML: d.ScanHTML, MaxParts: d.MaxParts,
		MaxDecode: int64(cfg.Milter.MaxScanSize), TempDir: tempDir, MemThreshold: int64(cfg.Milter.SpoolThreshold),
	}
}
