package policy

import (
	"bytes"
	"context"
)

// Transaction is one SMTP transaction as an MTA presents it, for running
// the engine without an MTA (`maxwell check`, tests).
type Transaction struct {
	Conn    ConnInfo
	Helo    string // "" for a client that never said HELO
	Mail    MailInfo
	Rcpts   []string
	Headers []Header
	Body    []byte // after the header, line ends as the MTA sends them (CRLF)
}

// StageResult is the engine's answer at one stage.
type StageResult struct {
	Stage    string
	Decision Decision
}

// Outcome is what became of a transaction.
type Outcome struct {
	Stages []StageResult
	Final  Decision    // the decision the message ended with
	SPF    *SPFVerdict // what the SPF checks found, if they ran
	Body   []byte      // the body an edit replaced it with; nil if unchanged
	// BodyErr is why the new body could not be written, if it could not.
	BodyErr error
}

// Run drives a new session through tx and stops where an MTA would: at a
// decision for the connection or message, or when every recipient was
// refused.
func (e *Engine) Run(tx Transaction) Outcome { return e.RunContext(context.Background(), tx) }

// RunContext is Run with lookups that end with ctx: past its deadline,
// they fail as DNS failures do (a temporary error), so the run ends
// soon after with the answers such failures get.
func (e *Engine) RunContext(ctx context.Context, tx Transaction) Outcome {
	// connect, helo, mail from, the recipients, data, end of headers,
	// end of message: the stages are known, and grown once.
	out := Outcome{Stages: make([]StageResult, 0, 6+len(tx.Rcpts))}
	s := e.NewSession()
	s.base = ctx
	defer s.Close()
	step := func(stage string, d Decision) bool {
		out.Stages = append(out.Stages, StageResult{stage, d})
		out.Final = d
		return d.Action == Continue
	}
	if !step("connect", s.Connect(tx.Conn)) {
		return out
	}
	if tx.Helo != "" && !step("helo", s.Hello(tx.Helo)) {
		return out
	}
	d := s.MailFrom(tx.Mail)
	if s.Msg != nil {
		out.SPF = s.Msg.SPF
	}
	if !step("mail from", d) {
		return out
	}
	accepted := 0
	out.Final = Decision{Action: Reject, Code: 554, XCode: "5.5.1", Text: []string{"No valid recipients"}}
	for _, r := range tx.Rcpts {
		d := s.RcptTo(r, "")
		out.Stages = append(out.Stages, StageResult{"rcpt to " + r, d})
		switch d.Action {
		case Continue, Accept:
			accepted++
		case Discard:
			out.Final = d
			return out
		default:
			out.Final = d
		}
	}
	if accepted == 0 {
		return out
	}
	if !step("data", s.Data()) {
		return out
	}
	for _, h := range tx.Headers {
		s.Header(h.Name, h.Value)
	}
	if !step("end of headers", s.EndOfHeaders()) {
		return out
	}
	s.Body(tx.Body)
	step("end of message", s.EndOfMessage())
	for _, e := range out.Final.Edits {
		if e.Kind == ReplaceBody {
			var b bytes.Buffer
			out.BodyErr = e.Body(&b)
			out.Body = b.Bytes()
		}
	}
	return out
}
