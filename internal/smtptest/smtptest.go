// Package smtptest runs an SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests: the mail server of a sender's domain that
// maxwell's call-backs talk to. It records what it was told and answers
// as the test sets it up.
package smtptest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// Server is a running SMTP server.
type Server struct {
	Addr string // host:port
	Port int

	// Set these before traffic arrives.
	RcptReply      *smtp.SMTPError // answer to RCPT TO; nil: 250
	RefuseNullFrom bool            // 550 to MAIL FROM:<>

	Connections atomic.Int32 // SMTP sessions: connections that went past the banner
	mu          sync.Mutex
	froms       []string
	rcpts       []string
	messages    [][]byte
	srv         *smtp.Server
}

// Start runs a server whose banner names host; it stops with the test.
func Start(t testing.TB, host string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = host
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Froms, Rcpts and Messages are what the server was sent.
func (s *Server) Froms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.froms...)
}

// Rcpts are the RCPT TO addresses the server was sent.
func (s *Server) Rcpts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rcpts...)
}

// Messages are the messages delivered to the server (DSNs).
func (s *Server) Messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.messages...)
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	b.s.Connections.Add(1)
	return &session{s: b.s}, nil
}

type session struct{ s *Server }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if from == "" && x.s.RefuseNullFrom {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no bounces here"}
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.froms = append(x.s.froms, from)
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	x.s.rcpts = append(x.s.rcpts, to)
	x.s.mu.Unlock()
	if x.s.RcptReply != nil {
		return x.s.RcptReply
	}
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.messages = append(x.s.messages, b)
	return nil
}

func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }

// Reply is an SMTP error answer, for RcptReply.
func Reply(code int, text string) *smtp.SMTPError {
	enh := smtp.EnhancedCode{code / 100, 1, 1}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}
