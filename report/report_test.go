package report

import (
	"strings"
	"testing"
)

// Lines it cannot read are counted, and the first shown, instead of
// failing; reasons are grouped without their particulars.
func TestReadTolerates(t *testing.T) {
	log := `2026-11-23T10:00:00Z conn=1 event=connect ip=192.0.2.1 class=EXTERNAL
garbage that is no mail-log line
2026-11-23T10:00:01Z conn=1 event="mail from" from=a@example.com
2026-11-23T10:00:02Z conn=1 event=decision tag=REJECT reason="SPF fail: -all" code=550 xcode=5.7.1 text=x
2026-11-24T09:00:00Z conn=2 event=decision tag=GREYLISTED reason="greylisted 192.0.2.0/24 a@example.com b@example.org" code=451
2026-11-24T09:00:00Z conn=2 event="broken
`
	r, err := Read(strings.NewReader(log), 2026, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unparsed != 2 || !strings.HasPrefix(r.FirstBad, "garbage") || r.Lines != 6 {
		t.Errorf("unparsed %d (first %q) of %d lines", r.Unparsed, r.FirstBad, r.Lines)
	}
	if len(r.Days) != 2 || r.Days["2026-11-23"].Rejected != 1 || r.Days["2026-11-24"].Greylisted != 1 || r.Total.RefusedShare() != 1 {
		t.Errorf("days %+v", r.Days)
	}
	if got := r.TopReasons; len(got) != 2 || got[0].Key != "SPF fail" && got[1].Key != "SPF fail" {
		t.Errorf("reasons %+v", got)
	}
}
