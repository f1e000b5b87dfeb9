package watch

import (
	"context"
	"log/slog"
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
