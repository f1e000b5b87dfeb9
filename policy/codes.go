package policy

import (
	"errors"
	"strings"

	"github.com/maxwell-milter/maxwell/callback"
	"github.com/maxwell-milter/maxwell/spf"
)

// statusCodes are the codes of the refusals that have registered
// enhanced status codes of their own (RFC 3463, RFC 7372, RFC 7505),
// and the ones maxwell gave them before, kept for [milter]
// legacy_status_codes. Refusals not listed here have one code only.
type statusCodes struct {
	spfFail      string // SPF fail, softfail or neutral refused, HELO SPF refused: X.7.23
	spfError     string // SPF permerror: X.7.24
	heloError    string // HELO SPF permerror or temperror refused (by an access map): X.7.24
	spfTempError string // SPF temperror: 4.7.24
	reverseDNS   string // PTR localhost or ".", three strikes: X.7.25
	missingHelo  int    // the reply code of MAIL FROM without HELO: 503 (RFC 5321 bad sequence)
	missingHeloX string // and its enhanced code: 5.5.1
	nullMX       bool   // refuse a sender domain publishing a null MX: 550 5.7.27 (RFC 7505 §4.2)
}

// registeredCodes are the codes maxwell gives by default.
var registeredCodes = statusCodes{
	spfFail:      "5.7.23",
	spfError:     "5.7.24",
	heloError:    "5.7.24",
	spfTempError: "4.7.24",
	reverseDNS:   "5.7.25",
	missingHelo:  503,
	missingHeloX: "5.5.1",
	nullMX:       true,
}

// legacyCodes are the codes maxwell gave before, as bms.py did
// ([milter] legacy_status_codes).
var legacyCodes = statusCodes{
	spfFail:      "5.7.1",
	spfError:     "5.5.2",
	heloError:    "5.7.1",
	spfTempError: "4.4.3",
	reverseDNS:   "5.7.1",
	missingHelo:  550,
	missingHeloX: "5.7.1",
	nullMX:       false,
}

// heloCode is the enhanced code of a refusal for the HELO name's SPF
// result res: a validation that failed (fail, softfail, neutral) is
// X.7.23, one that could not be made (permerror, temperror) X.7.24, and
// a refusal an access map asks for on a pass or none is none of these.
func (c *statusCodes) heloCode(res spf.Result) string {
	switch res {
	case spf.Fail, spf.SoftFail, spf.Neutral:
		return c.spfFail
	case spf.PermError, spf.TempError:
		return c.heloError
	}
	return "5.7.1"
}

// nullMXText is the reply to a sender whose domain publishes a null MX:
// RFC 7505's own text.
const nullMXText = "Sender address has null MX"

// checkNullMX refuses MAIL FROM an external, untrusted, unauthenticated
// client whose sender domain publishes a null MX (RFC 7505 §4.2): the
// domain takes no mail, so no reply or bounce could reach the sender.
// It runs whether or not call-backs are made. A DNS failure refuses
// nothing: the check is a courtesy, not a requirement, and the SPF check
// has already answered for the sender's DNS.
func checkNullMX(s *Session) (*Decision, error) {
	m := s.Msg
	if !s.e.codes.nullMX || m.Domain == "" || strings.HasPrefix(m.Domain, "[") ||
		s.Class&(Internal|Trusted|Auth|Local) != 0 || m.Whitelisted {
		return nil, nil
	}
	null, err := s.e.verifier.NullMX(s.ctx, m.Domain)
	if err != nil || !null {
		return nil, nil
	}
	return delayable(reject(550, "5.7.27", "null MX: "+m.Domain, nullMXText)), nil
}

// nullMXAnswer is the answer to a call-back that found the sender's
// domain publishing a null MX; nil under legacy codes, where it is a
// call-back without an answer (450 4.2.0).
func (c *statusCodes) nullMXAnswer(o callback.Outcome, sender string) *Decision {
	if !c.nullMX || !errors.Is(o.Err, callback.ErrNullMX) {
		return nil
	}
	return reject(550, "5.7.27", "CBV: null MX: "+senderDomain(sender), nullMXText)
}
