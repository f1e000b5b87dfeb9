package mtaclient

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/policy"
)

// Postfix's side of the milter protocol, byte for byte as Postfix 3.7's
// milter8.c speaks it with its default settings, so that a load generator
// costs a milter what Postfix costs it. go-milter's client differs in ways
// that change a milter's work: it writes every packet in two system calls
// where Postfix flushes once before it waits for a reply, it leaves out
// empty macro packets, the macros before each header field and body chunk
// and the ABORT after each message, and a milter that names its macros
// for some stages gets none for the others (Postfix keeps its defaults
// there).

// Postfix's defaults (postconf -d, Postfix 3.7): the protocol it offers
// (version 6, every action, every protocol step) and the macros it sends
// before each command, by the milter stage (SMFIM_*) they belong to.
const (
	postfixVersion  = 6
	postfixActions  = 0x1ff    // SMFIF_ADDHDRS … SMFIF_SETSYMLIST
	postfixProtocol = 0x1fffff // SMFIP_NOCONNECT … SMFIP_HDR_LEADSPC
)

// PostfixMacros are milter_connect_macros, milter_helo_macros, … by stage.
var PostfixMacros = map[milter.MacroStage][]string{
	milter.StageConnect: {"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
	milter.StageHelo:    {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
	milter.StageMail:    {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
	milter.StageRcpt:    {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
	milter.StageData:    {"i"},
	milter.StageEOH:     {"i"},
	milter.StageEOM:     {"i"},
}

// PostfixChunk is the size of Postfix's body chunks (MILTER_CHUNK_SIZE).
const PostfixChunk = 65535

// Milter protocol commands and replies (libmilter's mfdef.h).
const (
	cmdAbort   = 'A'
	cmdBody    = 'B'
	cmdConnect = 'C'
	cmdMacro   = 'D'
	cmdEOB     = 'E'
	cmdHelo    = 'H'
	cmdHeader  = 'L'
	cmdMail    = 'M'
	cmdEOH     = 'N'
	cmdOptNeg  = 'O'
	cmdQuit    = 'Q'
	cmdRcpt    = 'R'
	cmdData    = 'T'

	replyAccept   = 'a'
	replyContinue = 'c'
	replyProgress = 'p'
	replySkip     = 's'
)

// stageOf is the macro stage whose list goes before each command: the
// header fields and body chunks take the end-of-header and end-of-message
// lists, as in Postfix.
var stageOf = map[byte]milter.MacroStage{
	cmdConnect: milter.StageConnect, cmdHelo: milter.StageHelo, cmdMail: milter.StageMail, cmdRcpt: milter.StageRcpt,
	cmdData: milter.StageData, cmdHeader: milter.StageEOH, cmdEOH: milter.StageEOH, cmdBody: milter.StageEOM, cmdEOB: milter.StageEOM,
}

// PostfixMTA is the Postfix instance a load is sent from: what its
// macros say of it.
type PostfixMTA struct {
	Hostname   string // myhostname: j and {daemon_name}
	DaemonAddr string // {daemon_addr}: the address smtpd listens on
	Version    string // v: $mail_name $mail_version
}

// DefaultMTA is an MX host of example.org.
var DefaultMTA = PostfixMTA{Hostname: "mx.example.org", DaemonAddr: "203.0.113.25", Version: "Postfix 3.7.11"}

// PostfixConn is one SMTP connection's milter session as Postfix holds it.
type PostfixConn struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer // flushed only before a reply is read, as Postfix's VSTREAM
	timeout time.Duration
	proto   milter.OptProtocol
	lists   map[milter.MacroStage][]string
	macros  map[string]string
	queue   *atomic.Uint64
	state   int // what a disconnect sends: see Close
}

// Session states, as far as they decide what Postfix sends.
const (
	stateOpen     = iota // negotiated, no decision for the connection
	stateEnvelope        // in or between transactions: ABORT and QUIT are due
	stateDone            // the milter decided for the whole connection
)

// PostfixAnswer is how the milter answered a connection or a message.
type PostfixAnswer struct {
	Stage string // the command it answered: connect, helo, mail, rcpt, data, header, eoh, body, eom
	Code  byte   // the reply: 'c' continue, 'a' accept, 'r' reject, 't' tempfail, 'd' discard, 'y' reply code
	Reply string // with 'y': the SMTP reply
	Mods  []byte // with eom: the modifications asked for ('h' add header, 'i' insert header, 'b' replace body …)
}

// Accepted reports whether the message (or connection) goes on.
func (a PostfixAnswer) Accepted() bool { return a.Code == replyContinue || a.Code == replyAccept }

// queueIDs numbers the messages of all sessions, for the i macro.
var queueIDs atomic.Uint64

// DialPostfix connects to the milter at network/addr and negotiates as
// Postfix does. timeout bounds each exchange.
func DialPostfix(network, addr string, timeout time.Duration) (*PostfixConn, error) {
	// The errors name the stage as go-milter's client does: a milter
	// that refuses or drops connections before negotiation is told apart
	// from a session that breaks later.
	conn, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("milter: session create: %w", err)
	}
	p := &PostfixConn{conn: conn, r: bufio.NewReaderSize(conn, 4096), w: bufio.NewWriterSize(conn, 8192),
		timeout: timeout, lists: map[milter.MacroStage][]string{}, macros: map[string]string{}, queue: &queueIDs}
	for stage, names := range PostfixMacros {
		p.lists[stage] = names
	}
	var neg [12]byte
	binary.BigEndian.PutUint32(neg[0:], postfixVersion)
	binary.BigEndian.PutUint32(neg[4:], postfixActions)
	binary.BigEndian.PutUint32(neg[8:], postfixProtocol)
	p.packet(cmdOptNeg, neg[:])
	code, data, err := p.read()
	if err == nil && (code != cmdOptNeg || len(data) < 12) {
		err = fmt.Errorf("negotiation: unexpected reply %q", code)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("milter: negotiate: %w", err)
	}
	p.proto = milter.OptProtocol(binary.BigEndian.Uint32(data[8:]))
	// A milter may name the macros it wants by stage (SMFIF_SETSYMLIST):
	// those replace Postfix's list for that stage only.
	for rest := data[12:]; len(rest) > 4; {
		stage := milter.MacroStage(binary.BigEndian.Uint32(rest))
		names, after, ok := strings.Cut(string(rest[4:]), "\x00")
		if !ok {
			break
		}
		p.lists[stage] = strings.Fields(names)
		rest = []byte(after)
	}
	return p, nil
}

// packet buffers one packet.
func (p *PostfixConn) packet(code byte, data []byte) {
	var head [5]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(data)+1))
	head[4] = code
	p.w.Write(head[:])
	p.w.Write(data)
}

// read flushes what is buffered and reads the next packet but progress.
func (p *PostfixConn) read() (byte, []byte, error) {
	p.conn.SetDeadline(time.Now().Add(p.timeout))
	if err := p.w.Flush(); err != nil {
		return 0, nil, err
	}
	for {
		var head [4]byte
		if _, err := io.ReadFull(p.r, head[:]); err != nil {
			return 0, nil, err
		}
		n := binary.BigEndian.Uint32(head[:])
		if n < 1 || n > 2*PostfixChunk {
			return 0, nil, fmt.Errorf("bad packet length %d", n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(p.r, data); err != nil {
			return 0, nil, err
		}
		if data[0] != replyProgress {
			return data[0], data[1:], nil
		}
	}
}

// event sends a command as milter8_event does: nothing if the milter
// does not want it, else the stage's macros (even with no value set) and
// the command; then its reply, unless the milter said it sends none.
func (p *PostfixConn) event(stage string, cmd byte, no, noReply milter.OptProtocol, data []byte) (PostfixAnswer, error) {
	a := PostfixAnswer{Stage: stage, Code: replyContinue}
	if p.proto&no != 0 {
		return a, nil
	}
	if names := p.lists[stageOf[cmd]]; len(names) > 0 {
		m := []byte{cmd}
		for _, name := range names {
			if v := p.macros[name]; v != "" {
				m = append(append(append(append(m, name...), 0), v...), 0)
			}
		}
		p.packet(cmdMacro, m)
	}
	p.packet(cmd, data)
	if p.proto&noReply != 0 {
		return a, nil
	}
	code, reply, err := p.read()
	if err != nil {
		return a, fmt.Errorf("milter: %s: %w", stage, err)
	}
	a.Code = code
	if code == 'y' {
		a.Reply = strings.TrimRight(string(reply), "\x00")
	}
	return a, nil
}

func cstrings(s ...string) []byte {
	var b []byte
	for _, x := range s {
		b = append(append(b, x...), 0)
	}
	return b
}

// Connect reports the SMTP client: its address and, if Postfix found and
// confirmed it, its name ("" for none: Postfix then says "unknown").
func (p *PostfixConn) Connect(mta PostfixMTA, ip netip.Addr, port uint16, name string) (PostfixAnswer, error) {
	shown := name
	if name == "" {
		name, shown = "unknown", "["+ip.String()+"]"
	}
	for k, v := range map[string]string{"j": mta.Hostname, "{daemon_name}": mta.Hostname, "{daemon_addr}": mta.DaemonAddr,
		"{daemon_port}": "25", "v": mta.Version, "_": name + " [" + ip.String() + "]", "{client_addr}": ip.String(),
		"{client_port}": fmt.Sprint(port), "{client_name}": name, "{client_ptr}": name} {
		p.macros[k] = v
	}
	family := byte('4')
	if ip.Is6() && !ip.Is4In6() {
		family = '6'
	}
	data := append(cstrings(shown), family, byte(port>>8), byte(port))
	data = append(data, cstrings(ip.Unmap().String())...)
	a, err := p.event("connect", cmdConnect, milter.OptNoConnect, milter.OptNoConnReply, data)
	p.decided(a, err)
	return a, err
}

// Helo reports HELO or EHLO.
func (p *PostfixConn) Helo(name string) (PostfixAnswer, error) {
	a, err := p.event("helo", cmdHelo, milter.OptNoHelo, milter.OptNoHeloReply, cstrings(name))
	p.decided(a, err)
	return a, err
}

// decided notes an answer for the whole connection: Postfix then closes
// the milter socket without a word.
func (p *PostfixConn) decided(a PostfixAnswer, err error) {
	switch {
	case err != nil || !a.Accepted() || a.Code == replyAccept:
		p.state = stateDone
	default:
		p.state = stateEnvelope
	}
}

// Message runs one SMTP transaction: MAIL FROM with its ESMTP arguments
// (as "SIZE=1234", "" for none), the recipients (a refused one is left
// out, as smtpd does), DATA, the header fields (the first is the
// Received: field Postfix adds, which it never shows a milter, so leave
// it out here), the body in chunks, end of message. Then ABORT, which
// Postfix sends after every transaction.
func (p *PostfixConn) Message(sender, args string, rcpts []string, headers []policy.Header, body []byte) (PostfixAnswer, error) {
	if p.state != stateEnvelope {
		return PostfixAnswer{}, errors.New("milter: no session for a message")
	}
	defer func() {
		p.packet(cmdAbort, nil)
		for _, k := range []string{"i", "{mail_addr}", "{mail_host}", "{mail_mailer}", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"} {
			delete(p.macros, k)
		}
	}()
	p.macros["{mail_addr}"], p.macros["{mail_host}"], p.macros["{mail_mailer}"] = sender, domainOf(sender), "smtp"
	mail := cstrings("<" + sender + ">")
	for _, arg := range strings.Fields(args) {
		mail = append(append(mail, arg...), 0)
	}
	a, err := p.event("mail", cmdMail, milter.OptNoMailFrom, milter.OptNoMailReply, mail)
	if err != nil || a.Code != replyContinue {
		return a, err
	}
	accepted := 0
	for _, r := range rcpts {
		p.macros["{rcpt_addr}"], p.macros["{rcpt_host}"], p.macros["{rcpt_mailer}"] = r, domainOf(r), "relay"
		if a, err = p.event("rcpt "+r, cmdRcpt, milter.OptNoRcptTo, milter.OptNoRcptReply, cstrings("<"+r+">")); err != nil {
			return a, err
		}
		if a.Code == replyContinue {
			if accepted++; accepted == 1 {
				// smtpd opens the queue file once a recipient is accepted
				p.macros["i"] = fmt.Sprintf("%011X", p.queue.Add(1))
			}
		} else if a.Accepted() || a.Code == 'd' {
			return a, nil // accept or discard the whole message here
		}
	}
	if accepted == 0 {
		return a, nil
	}
	if a, err = p.event("data", cmdData, milter.OptNoData, milter.OptNoDataReply, nil); err != nil || a.Code != replyContinue {
		return a, err
	}
	for _, h := range headers {
		value := strings.ReplaceAll(h.Value, "\r\n", "\n") // Postfix separates the lines of a folded field with LF
		if p.proto&milter.OptHeaderLeadingSpace != 0 {
			value = " " + value
		}
		a, err = p.event("header", cmdHeader, milter.OptNoHeaders, milter.OptNoHeaderReply, cstrings(h.Name, value))
		if err != nil || a.Code == replySkip {
			break
		}
		if a.Code != replyContinue {
			return a, nil
		}
	}
	if err != nil {
		return a, err
	}
	if a, err = p.event("eoh", cmdEOH, milter.OptNoEOH, milter.OptNoEOHReply, nil); err != nil || a.Code != replyContinue {
		return a, err
	}
	for off := 0; off < len(body); off += PostfixChunk {
		a, err = p.event("body", cmdBody, milter.OptNoBody, milter.OptNoBodyReply, body[off:min(off+PostfixChunk, len(body))])
		if err != nil || a.Code == replySkip {
			break
		}
		if a.Code != replyContinue {
			return a, nil
		}
	}
	if err != nil {
		return a, err
	}
	return p.endOfMessage()
}

// endOfMessage sends SMFIC_BODYEOB and collects the modifications before
// the final reply.
func (p *PostfixConn) endOfMessage() (PostfixAnswer, error) {
	a, err := p.event("eom", cmdEOB, 0, 0, nil)
	for err == nil && strings.IndexByte("+-bmihe2q", a.Code) >= 0 {
		a.Mods = append(a.Mods, a.Code)
		var reply []byte
		if a.Code, reply, err = p.read(); a.Code == 'y' {
			a.Reply = strings.TrimRight(string(reply), "\x00")
		}
	}
	if err != nil {
		return a, fmt.Errorf("milter: eom: %w", err)
	}
	return a, nil
}

// Close ends the session as a disconnecting SMTP client does: ABORT and
// QUIT in one write, or nothing when the milter had decided for the whole
// connection.
func (p *PostfixConn) Close() error {
	if p.state == stateEnvelope {
		p.packet(cmdAbort, nil)
		p.packet(cmdQuit, nil)
		p.conn.SetWriteDeadline(time.Now().Add(p.timeout))
		p.w.Flush()
	}
	return p.conn.Close()
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}
