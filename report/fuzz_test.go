package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// FuzzRead sums up arbitrary logs: nothing panics, and the text, JSON
// and HTML outputs are written.
func FuzzRead(f *testing.F) {
	f.Add("2026-11-23T10:00:01Z conn=1 event=connect ip=198.51.100.7 class=EXTERNAL\n" +
		"2026-11-23T10:00:02Z conn=1 event=decision tag=REJECT reason=\"SPF fail: -all\" code=550\n")
	f.Add("Nov 23 10:00:01 host maxwell[42]: conn=2 event=greylist client=a sender=b rcpt=c step=pass delay=300\ngarbage\n")
	f.Fuzz(func(t *testing.T, log string) {
		rep, err := Read(strings.NewReader(log), 2026, 5)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		for _, write := range []func(io.Writer) error{rep.WriteText, rep.WriteJSON, rep.WriteHTML} {
			if err := write(&out); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzDMARCAggregate reads arbitrary logs into aggregate reports:
// nothing panics, and every report is well-formed XML that reads back.
func FuzzDMARCAggregate(f *testing.F) {
	f.Add("2026-12-03T10:00:02Z conn=17 event=dmarc result=fail from=example.com policy_domain=example.com p=reject sp=quarantine pct=100 adkim=r aspf=r policy=reject disposition=reject override=none ip=192.0.2.1 mailfrom=bounce.example.net spf=pass spf_aligned=false dkim_aligned=none dkim=\"example.net/sel1:pass example.com/s2:fail\" qid=4Xyz\n")
	f.Add("Dec  3 17:00:00 mx maxwell[42]: conn=29 event=dmarc result=pass from=\"<&>\" policy_domain=example.org p=none sp=\"\" pct=100 adkim=r aspf=r policy=none disposition=none override=mailing_list ip=::ffff:192.0.2.1 mailfrom=\"\" spf=none spf_aligned=false dkim_aligned=\"]]>\" dkim=\"a/b/c:d:pass\"\ngarbage\n")
	f.Fuzz(func(t *testing.T, log string) {
		agg, err := ReadAggregate(strings.NewReader(log), AggregateOptions{Org: "mx.example.net", Email: "a@example.net", Year: 2026})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range agg.Reports {
			var out bytes.Buffer
			if err := r.WriteXML(&out); err != nil {
				t.Fatal(err)
			}
			var back Feedback
			if err := xml.Unmarshal(out.Bytes(), &back); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if back.Messages() != r.Messages() || back.Policy != r.Policy || !ValidDomain(r.Policy.Domain) {
				t.Fatalf("read back %+v, wrote %+v", back, r)
			}
		}
	})
}
