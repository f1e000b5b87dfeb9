package policy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// wiretap carries out bms.py's [wiretap] and smart aliases on an
// accepted message: copies of mail to or from wiretapped users go to
// [wiretap] dest (blind, or named in a Cc field); outgoing mail from
// [wiretap] discard users is dropped without a word; smart aliases
// redirect mail from a sender (or a sender domain) to a recipient to
// other addresses; and every message can be appended to an mbox archive.
func wiretap(s *Session) (*Decision, error) {
	m, w := s.Msg, &s.e.cfg.Wiretap
	if s.e.wiretapDiscard.match(m.Info.Sender) && s.Class&Internal != 0 {
		s.log("discard", "reason", "wiretap discard", "from", m.Info.Sender)
		return &Decision{Action: Discard, Tag: "DISCARD", Reason: "wiretap discard " + m.Info.Sender}, nil
	}
	for _, a := range w.SmartAlias {
		if len(a) < 2 || !newAddrSet(a[:1], s.e.cfg.Milter.CaseSensitiveLocalpart).match(m.Info.Sender) {
			continue
		}
		dests := a[2:]
		rcpt := newAddrSet(a[1:2], s.e.cfg.Milter.CaseSensitiveLocalpart)
		for _, r := range m.Rcpts {
			if !rcpt.has(r) {
				continue
			}
			s.AddEdit(Edit{Kind: DeleteRecipient, Name: r})
			s.log("discard rcpt", "rcpt", r, "reason", "smart alias")
			for _, d := range dests {
				s.AddEdit(Edit{Kind: AddRecipient, Name: d})
				s.log("append rcpt", "rcpt", d, "reason", "smart alias for "+r)
			}
		}
	}
	if w.Dest != "" {
		tapped := s.e.wiretapUsers.match(m.Info.Sender)
		for _, r := range m.Rcpts {
			tapped = tapped || s.e.wiretapUsers.match(r)
		}
		if tapped {
			s.AddEdit(Edit{Kind: AddRecipient, Name: w.Dest})
			s.log("append rcpt", "rcpt", w.Dest, "reason", "wiretap")
			if !w.Blind {
				s.AddEdit(Edit{Kind: InsertHeader, Name: "Cc", Value: w.Dest})
			}
		}
	}
	if w.Archive != "" {
		if err := s.archive(w.Archive); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
	}
	return nil, nil
}

// archiveMu serialises appends to archive files within the process; the
// file is opened O_APPEND and written in one piece per message, so that
// other processes appending too do not interleave within a message.
var archiveMu sync.Mutex

// archive appends the message, as received, to an mbox file: a "From "
// line, the header, the body with "From " lines quoted (mboxrd).
func (s *Session) archive(path string) error {
	m := s.Msg
	var b strings.Builder
	from := m.Info.Sender
	if from == "" {
		from = "MAILER-DAEMON"
	}
	fmt.Fprintf(&b, "From %s %s\n", strings.ReplaceAll(from, " ", "_"), s.e.now().UTC().Format(time.ANSIC))
	for _, h := range m.header {
		fmt.Fprintf(&b, "%s: %s\n", h.Name, strings.ReplaceAll(h.Value, "\r\n", "\n"))
	}
	b.WriteString("\n")
	if m.body != nil {
		sc := bufio.NewScanner(m.body.Reader())
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
				line = ">" + line
			}
			b.WriteString(line + "\n")
		}
		if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	b.WriteString("\n")
	archiveMu.Lock()
	defer archiveMu.Unlock()
	f, err := safefile.Append(path, 0o600) // not through a planted link
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Close())
}
