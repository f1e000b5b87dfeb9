package policy

import (
	"fmt"
	"io"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Action is what the MTA is told to do with the connection, message or
// recipient at hand.
type Action int

// The actions. Continue means "no decision yet": go on to the next stage.
const (
	Continue Action = iota
	Accept
	Reject
	Tempfail
	Discard
	Quarantine
)

var actionNames = [...]string{"continue", "accept", "reject", "tempfail", "discard", "quarantine"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Decision is the answer of a check or a stage: an action, the SMTP reply
// that goes with it, and the edits to make to the message.
type Decision struct {
	Action Action
	Code   int      // SMTP reply code, e.g. 550; 0 lets the MTA choose
	XCode  string   // enhanced status code, e.g. "5.7.1"
	Text   []string // reply lines, one line each
	Tag    string   // mail-log tag, e.g. "REJECT"
	Reason string   // why, for the mail log
	Edits  []Edit   // message changes; applied only when the message is accepted

	// Callback, on an accepting decision, is a call-back verification
	// the SPF policy asked for (CBV, DSN), still to be made.
	Callback *Callback

	// Delayable decisions may wait until DATA when [milter]
	// delayed_reject is on, so the log shows the recipients, and an SMTP
	// AUTH that follows can cancel them (bms.py's delay_reject).
	Delayable bool
}

// Final reports whether d ends the message (or the recipient, at RCPT).
func (d Decision) Final() bool { return d.Action != Continue }

// Reply returns the reply as one string, "550 5.7.1 text", lines joined
// with "\n".
func (d Decision) Reply() string {
	var b strings.Builder
	for i, line := range d.Text {
		if i > 0 {
			b.WriteByte('\n')
		}
		if d.Code != 0 {
			fmt.Fprintf(&b, "%d ", d.Code)
		}
		if d.XCode != "" {
			b.WriteString(d.XCode + " ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// EditKind is a kind of message change.
type EditKind int

// The message changes maxwell makes.
const (
	InsertHeader    EditKind = iota // insert Name: Value at position Index (0 = top)
	DeleteHeader                    // delete the Index-th (from 1) field called Name
	ChangeHeader                    // set the Index-th (from 1) field called Name to Value
	ReplaceBody                     // replace the body with what Body writes
	AddRecipient                    // add Name as a recipient
	DeleteRecipient                 // remove the recipient Name
	ChangeSender                    // make Name the envelope sender
)

// Edit is one message change.
type Edit struct {
	Kind  EditKind
	Name  string
	Value string
	Index int
	// Body writes the new body (ReplaceBody). It may be called once,
	// before the session's Release.
	Body func(io.Writer) error
}

// reject builds a 5xx decision; text lines are made safe for an SMTP reply.
func reject(code int, xcode, reason string, text ...string) *Decision {
	return &Decision{Action: Reject, Code: code, XCode: xcode, Text: replyLines(text), Tag: "REJECT", Reason: reason}
}

// tempfail builds a 4xx decision.
func tempfail(code int, xcode, reason string, text ...string) *Decision {
	return &Decision{Action: Tempfail, Code: code, XCode: xcode, Text: replyLines(text), Tag: "TEMPFAIL", Reason: reason}
}

// delayable marks d as one that may wait until DATA.
func delayable(d *Decision) *Decision {
	d.Delayable = true
	return d
}

// maxReplyText bounds the text of one reply line: RFC 5321 §4.5.3.1.5
// allows 512 octets with the code ("550-5.7.1 ") and CRLF.
const maxReplyText = 480

// replyLines makes text safe for an SMTP reply: every CR, LF or other
// control character a client could have put into it (a HELO name, an
// address) becomes a space, so it can never start a reply line of its
// own, and a line longer than a reply line may be is cut with a marker.
func replyLines(text []string) []string {
	out := make([]string, len(text))
	for i, t := range text {
		out[i] = oneline.Cut(oneline.Clean(t), maxReplyText)
	}
	return out
}
