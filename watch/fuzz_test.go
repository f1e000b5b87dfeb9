package watch

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// FuzzParse reads arbitrary MTA log lines and gives the events to a
// watcher: nothing panics, whatever the lines say.
func FuzzParse(f *testing.F) {
	for _, l := range postfixLog(f) {
		f.Add(l)
	}
	f.Add("Nov 29 21:48:38 mx sm-mta[4242]: 5ATL: lost input channel from [IPv6:::1] to MTA after rcpt")
	f.Add("Nov 29 21:48:38 mx sm-mta[1]: Q: Milter: to=<, reject=451 4.7.1 Greylisted")
	for _, lg := range eximLogs {
		for _, l := range eximLog(f, lg.path, 0) {
			f.Add(l)
		}
	}
	for _, l := range []string{
		"2026-12-02 18:30:01 H=([2001:db8::1]) [2001:db8::1]:1234 F=<a@b> temporarily rejected RCPT <c@d>: 451 4.7.1 Greylisted",
		"2026-12-02 18:30:01.123 +9999 [] 1tXYZa-000123-ABCD <= <> H=[:::1]:99999999 P=esmtp",
		"2026-12-02 18:30:01 unexpected disconnection while reading SMTP command from [::ffff:192.0.2.1]:0 D=9999999999999w.5s",
		"2026-12-02 18:30:01 SMTP connection from [",
		"Dec  2 18:28:00 mx exim4[1]: 2026-12-02 18:28:00 SMTP connection from (h) [127.0.0.2] lost D=1.s1",
		"2026-12-02 18:30:01 H= temporarily rejected RCPT <" + strings.Repeat("x", 1<<16),
	} {
		f.Add(l)
	}
	fx := newFixture(f, nil)
	w := New(fx.cfg, fx.st, maillog.New(fx.log), slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, line string) {
		if ev, ok := Parse(line, now); ok {
			if err := w.Process(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	})
}
