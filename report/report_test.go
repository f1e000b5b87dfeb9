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

// The report says what it covers: the period of its lines, the logs,
// the host and when it was made; and, given the MTA's log instead of
// maxwell's, says so.
func TestReportSaysWhatItCovers(t *testing.T) {
	log := `Nov 23 09:59:00 mx postfix/smtpd[4711]: connect from unknown[192.0.2.1]
2026-11-23T10:00:00Z conn=1 event=connect ip=192.0.2.1 class=EXTERNAL
Nov 23 10:00:05 mx postfix/cleanup[4712]: 4XyZ: message-id=<a@b>
Nov 23 10:00:06 mx sm-mta[99]: x: from=<a@b>
2026-11-24T09:30:00Z conn=2 event=decision tag=GREYLISTED reason="greylisted" code=451
`
	r, err := Read(strings.NewReader(log), 2026, 10)
	if err != nil {
		t.Fatal(err)
	}
	r.Sources, r.Host = []string{"/var/log/maxwell/mail.log"}, "mx.example.org"
	var text strings.Builder
	r.WriteText(&text)
	for _, want := range []string{
		"maxwell report: 2026-11-23 10:00:00 to 2026-11-24 09:30:00 UTC, from /var/log/maxwell/mail.log, on mx.example.org\n",
		"3 of them were written by the MTA (Postfix, Sendmail): give maxwell report maxwell's own mail log",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}
	var html strings.Builder
	if err := r.WriteHTML(&html); err != nil || !strings.Contains(html.String(), "<p>maxwell report: 2026-11-23 10:00:00 to 2026-11-24 09:30:00 UTC") {
		t.Errorf("the HTML page lacks the period (%v)", err)
	}
}

// The reputation lines are summed by action.
func TestReputationActions(t *testing.T) {
	log := `2026-11-23T10:00:00Z conn=1 event=reputation id=spf:example.com score=0.800 own=0.800 evidence=20.000 peers=0.000 action=skip_greylist
2026-11-23T10:00:01Z conn=2 event=reputation id=net:192.0.2.0/24 score=-0.900 own=-0.900 evidence=45.000 peers=0.000 action=refuse
2026-11-23T10:00:02Z conn=3 event=reputation id=spf:example.com score=0.810 own=0.810 evidence=21.000 peers=0.000 action=skip_greylist
`
	r, err := Read(strings.NewReader(log), 2026, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Total.Reputation; got["skip_greylist"] != 2 || got["refuse"] != 1 {
		t.Errorf("reputation actions %v", got)
	}
	var text strings.Builder
	r.WriteText(&text)
	if !strings.Contains(text.String(), "reputation: ") || !strings.Contains(text.String(), "skip_greylist") {
		t.Errorf("no reputation line:\n%s", text.String())
	}
}
