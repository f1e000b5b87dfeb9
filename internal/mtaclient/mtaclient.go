// Package mtaclient plays the MTA's part of the milter protocol. Conn
// does it with go-milter's client, as Postfix does in outline: one milter
// connection per SMTP connection, several messages on it, recipients
// refused one by one; tests use it to drive the real server over a
// socket. PostfixConn does it packet for packet as Postfix does, for the
// load generator (maxwell bench), whose figures depend on those packets.
package mtaclient

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/policy"
)

// Result is how the milter answered a connection or a message.
type Result struct {
	Stage  string                // where the transaction ended
	Action *milter.Action        // the last answer
	Mods   []milter.ModifyAction // message changes, at end of message
}

// Accepted reports whether the message went through.
func (r Result) Accepted() bool {
	return r.Action.Type == milter.ActionAccept || r.Action.Type == milter.ActionContinue
}

// Conn is one SMTP connection's milter session.
type Conn struct {
	sess   *milter.ClientSession
	macros *milter.MacroBag
	Net    net.Conn // the socket, for tests that break it
}

// dialer remembers the socket it opened.
type dialer struct{ conn net.Conn }

func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	d.conn = c
	return c, err
}

// Dial opens a milter session to the server at network/addr (as "tcp",
// "127.0.0.1:8895") and sends CONNECT for ci and, unless empty, HELO. If
// the milter decided there, the Result says so and the Conn is closed.
// opts are more go-milter client options, e.g. the actions the MTA offers.
func Dial(network, addr string, ci policy.ConnInfo, helo string, opts ...milter.Option) (*Conn, *Result, error) {
	d := &dialer{}
	client := milter.NewClient(network, addr, append([]milter.Option{milter.WithDialer(d),
		milter.WithReadTimeout(30 * time.Second), milter.WithWriteTimeout(10 * time.Second)}, opts...)...)
	macros := milter.NewMacroBag()
	macros.Set(milter.MacroMTAFQDN, "mx.example.org")
	macros.Set("{daemon_port}", "25")
	macros.Set("{client_ptr}", ci.MTAPTR)
	sess, err := client.Session(macros)
	if err != nil {
		return nil, nil, err
	}
	c := &Conn{sess: sess, macros: macros, Net: d.conn}
	family, addrText := milter.FamilyUnknown, ""
	if ci.IP.IsValid() {
		family, addrText = milter.FamilyInet, ci.IP.String()
		if ci.IP.Is6() && !ci.IP.Is4In6() {
			family = milter.FamilyInet6
		}
	}
	act, err := sess.Conn(ci.Hostname, family, ci.Port, addrText)
	if err != nil || act.Type != milter.ActionContinue {
		sess.Close()
		return nil, &Result{Stage: "connect", Action: act}, err
	}
	if helo != "" {
		if act, err = sess.Helo(helo); err != nil || act.Type != milter.ActionContinue {
			sess.Close()
			return nil, &Result{Stage: "helo", Action: act}, err
		}
	}
	return c, nil, nil
}

// Session returns the go-milter session, for tests that go step by step.
func (c *Conn) Session() *milter.ClientSession { return c.sess }

// Close ends the session (SMFIC_QUIT).
func (c *Conn) Close() error { return c.sess.Close() }

// Message runs one transaction. Like an MTA, it goes on after a refused
// recipient and aborts the message when none is left.
func (c *Conn) Message(mi policy.MailInfo, rcpts []string, headers []policy.Header, body []byte) (Result, error) {
	c.macros.Set(milter.MacroAuthAuthen, mi.AuthUser)
	c.macros.Set(milter.MacroQueueId, mi.QueueID)
	act, err := c.sess.Mail(mi.Sender, mi.Args)
	if err != nil {
		return Result{}, err
	}
	if act.Type != milter.ActionContinue {
		return Result{Stage: "mail from", Action: act}, c.sess.Abort(nil)
	}
	accepted := 0
	var last Result
	for _, r := range rcpts {
		if act, err = c.sess.Rcpt(r, ""); err != nil {
			return Result{}, err
		}
		last = Result{Stage: "rcpt to " + r, Action: act}
		if act.Type == milter.ActionContinue || act.Type == milter.ActionAccept {
			accepted++
		}
	}
	if accepted == 0 {
		return last, c.sess.Abort(nil)
	}
	if act, err = c.sess.DataStart(); err != nil {
		return Result{}, err
	}
	if act.Type != milter.ActionContinue {
		return Result{Stage: "data", Action: act}, c.sess.Abort(nil)
	}
	for _, h := range headers {
		if act, err = c.sess.HeaderField(h.Name, h.Value, nil); err != nil {
			return Result{}, err
		}
		if act.Type != milter.ActionContinue {
			return Result{Stage: "header", Action: act}, c.sess.Abort(nil)
		}
	}
	if act, err = c.sess.HeaderEnd(); err != nil {
		return Result{}, err
	}
	if act.Type != milter.ActionContinue {
		return Result{Stage: "end of headers", Action: act}, c.sess.Abort(nil)
	}
	mods, act, err := c.sess.BodyReadFrom(bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	return Result{Stage: "end of message", Action: act, Mods: mods}, nil
}

// Send runs tx on a connection of its own.
func Send(network, addr string, tx policy.Transaction, body []byte, opts ...milter.Option) (Result, error) {
	c, res, err := Dial(network, addr, tx.Conn, tx.Helo, opts...)
	if err != nil || res != nil {
		if res == nil {
			return Result{}, err
		}
		return *res, err
	}
	defer c.Close()
	return c.Message(tx.Mail, tx.Rcpts, tx.Headers, body)
}

// Reply splits a reply from the milter into code and text lines (without
// the code and the enhanced status code).
func Reply(a *milter.Action) (code int, xcode string, lines []string) {
	for _, l := range strings.Split(strings.TrimRight(a.SMTPReply, "\r\n"), "\r\n") {
		var c int
		var rest string
		if _, err := fmt.Sscanf(l, "%3d", &c); err != nil || len(l) < 4 {
			continue
		}
		code, rest = c, l[4:]
		if x, text, ok := strings.Cut(rest, " "); ok && strings.Count(x, ".") == 2 {
			xcode, rest = x, text
		}
		lines = append(lines, rest)
	}
	return code, xcode, lines
}
