package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/maxwell-milter/maxwell/dryrun"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/policy"
)

// Limits of the check page.
const (
	// MaxUpload bounds the message a check reads: it is held in memory
	// while it runs. A larger one is for `maxwell check` on the host.
	MaxUpload = 10 << 20
	// MaxChecks is how many checks run at once; another is answered
	// 503 until one ends.
	MaxChecks = 2
	// CheckDeadline bounds a check's run: past it, its DNS lookups fail
	// as temporary errors and the run ends. With the 30 s the server
	// gives a request to arrive, it stays within its 60 s to answer.
	CheckDeadline = 20 * time.Second
	// maxShown bounds the message as delivered, and the mail log, shown.
	maxShown = 256 << 10
	// maxRcpts bounds the recipients of a check.
	maxRcpts = 100
	// maxField bounds a field of the form, the recipients excepted.
	maxField = 1024
	// maxParts bounds the parts of the form.
	maxParts = 16
	// maxCheckBody bounds the POST of a check: the message, and the
	// other fields with the form's own lines as any form.
	maxCheckBody = MaxUpload + maxBody
	// maxAddress is the longest address RFC 5321 allows.
	maxAddress = 64 + 1 + 255
)

// checkForm is what the check page's form holds, as typed: shown again
// with the result for another try (but for the file, which a browser
// cannot be given back).
type checkForm struct {
	IP, Helo, From, Rcpts, Auth string
}

// checkView is the check page's data.
type checkView struct {
	Form     checkForm
	Limit    string // MaxUpload, for people
	Shown    string // maxShown, for people
	Deadline string
	Result   *checkResult // nil before a check
}

// checkResult is what a check found.
type checkResult struct {
	File     string // the file's name and size
	Stages   []checkStage
	Final    checkStage
	TimedOut bool // the run passed CheckDeadline
	MailLog  string
	LogCut   bool
	// Delivered: the message would be (accepted or quarantined), as
	// Message shows it, Envelope changed so.
	Delivered   bool
	Quarantined bool
	Envelope    []string
	Message     string
	MessageCut  bool
	BodyErr     bool // the new body could not be written (diagnostic log)
}

// checkStage is one stage's decision, as shown.
type checkStage struct {
	Stage, Action, Reply, Reason string
	Edits                        int
}

func stageOf(name string, d policy.Decision) checkStage {
	return checkStage{Stage: name, Action: d.Action.String(), Reply: d.Reply(), Reason: d.Reason, Edits: len(d.Edits)}
}

func (c *console) checkView(s *session) (view, *checkView) {
	v := c.base(s, "Check a message")
	cv := &checkView{Limit: fmt.Sprintf("%d MiB", MaxUpload>>20), Shown: fmt.Sprintf("%d KiB", maxShown>>10), Deadline: CheckDeadline.String()}
	v.Data = cv
	return v, cv
}

func (c *console) checkForm(w http.ResponseWriter, r *http.Request, s *session) {
	v, _ := c.checkView(s)
	c.render(w, http.StatusOK, "check", v)
}

// upload wraps a POST of a multipart form that changes nothing: it needs
// a session and its CSRF token, sent as the form's first field and
// checked before anything else is read. Read-only users may post it.
// h reads the rest of the form from mr.
func (c *console) upload(h func(http.ResponseWriter, *http.Request, *session, *multipart.Reader)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.postSession(w, r)
		if s == nil {
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, "bad form: multipart/form-data expected", http.StatusBadRequest)
			return
		}
		var got string
		if p, err := mr.NextRawPart(); err == nil && p.FormName() == "csrf" {
			b, _ := readPart(p, maxField, errLongField)
			got = string(b)
		}
		if !csrfValid(w, s, got) {
			return
		}
		h(w, r, s, mr)
	}
}

// formError is a form refused: what to tell, and the status.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

var (
	errTooLarge = &formError{http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The message is over %d MiB: check it with maxwell check on the mail server.", MaxUpload>>20)}
	errBadForm   = &formError{http.StatusBadRequest, "The form could not be read: reload the page and try again."}
	errLongField = &formError{http.StatusBadRequest, "A field of the form is too long."}
)

func badInput(format string, args ...any) *formError {
	return &formError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// readError is the formError of a form that could not be read.
func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	return errBadForm
}

// readPart reads a part of up to max bytes; a longer one is tooLong.
func readPart(p *multipart.Part, max int64, tooLong error) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(p, max+1))
	switch {
	case err != nil:
		return nil, readError(err)
	case int64(len(b)) > max:
		return nil, tooLong
	}
	return b, nil
}

// readCheck reads the rest of a check's form: the fields into f, and
// the message file with its name.
func readCheck(mr *multipart.Reader, f *checkForm) (msg []byte, name string, err error) {
	fields := map[string]*string{"ip": &f.IP, "helo": &f.Helo, "from": &f.From, "rcpt": &f.Rcpts, "auth": &f.Auth}
	for n := 0; ; n++ {
		p, err := mr.NextRawPart()
		switch {
		case err == io.EOF:
			return msg, name, nil
		case err != nil:
			return nil, "", readError(err)
		case n == maxParts:
			return nil, "", badInput("The form has too many fields.")
		}
		limit, tooLong := int64(maxField), error(errLongField)
		switch p.FormName() {
		case "file":
			limit, tooLong = MaxUpload, errTooLarge
		case "rcpt":
			limit = maxRcpts * (maxAddress + int64(len("<>\r\n")))
		}
		b, err := readPart(p, limit, tooLong)
		if err != nil {
			return nil, "", err
		}
		if p.FormName() == "file" {
			msg, name = b, p.FileName()
		} else if v := fields[p.FormName()]; v != nil {
			*v = string(b)
		}
	}
}

// word checks a field that SMTP carries as one word: no spaces, no
// control characters, at most max bytes.
func word(label, v string, max int) error {
	if len(v) > max {
		return badInput("%s: at most %d characters.", label, max)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return badInput("%s: one word, without spaces or control characters.", label)
	}
	return nil
}

// envelope is the envelope the form asks for.
func (f *checkForm) envelope() (dryrun.Envelope, error) {
	var env dryrun.Envelope
	if ip := strings.TrimSpace(f.IP); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return env, badInput("Client IP: %q is not an IP address.", oneline.Cut(ip, 64))
		}
		env.IP = a
	}
	env.Helo = strings.TrimSpace(f.Helo)
	if err := word("HELO name", env.Helo, 255); err != nil {
		return env, err
	}
	if from := strings.TrimSpace(f.From); from != "" {
		env.Sender, env.SenderSet = dryrun.EnvelopeAddress(from), true
		if err := word("MAIL FROM", env.Sender, maxAddress); err != nil {
			return env, err
		}
	}
	for _, line := range strings.Split(f.Rcpts, "\n") {
		a := dryrun.EnvelopeAddress(line)
		if a == "" {
			continue
		}
		if err := word("Recipient", a, maxAddress); err != nil {
			return env, err
		}
		if len(env.Rcpts) == maxRcpts {
			return env, badInput("At most %d recipients.", maxRcpts)
		}
		env.Rcpts = append(env.Rcpts, a)
	}
	env.AuthUser = strings.TrimSpace(f.Auth)
	if strings.IndexFunc(env.AuthUser, unicode.IsControl) >= 0 || len(env.AuthUser) > 255 {
		return env, badInput("SMTP AUTH user: at most 255 characters, without control characters.")
	}
	return env, nil
}

// check runs the message of the form through the policy engine, as
// `maxwell check` does: offline, with the daemon's configuration, and
// writing nothing but to a temporary directory.
func (c *console) check(w http.ResponseWriter, r *http.Request, s *session, mr *multipart.Reader) {
	v, cv := c.checkView(s)
	refuse := func(status int, msg string) {
		// The rest of the upload is read (up to maxCheckBody), so that
		// the browser, still sending, gets the answer.
		io.Copy(io.Discard, r.Body)
		v.Error = msg
		c.render(w, status, "check", v)
	}
	select {
	case c.checking <- struct{}{}:
		defer func() { <-c.checking }()
	default:
		w.Header().Set("Retry-After", "10")
		refuse(http.StatusServiceUnavailable, fmt.Sprintf("%d checks are running already: try again in a moment.", MaxChecks))
		return
	}
	msg, name, err := readCheck(mr, &cv.Form)
	var fe *formError
	if errors.As(err, &fe) {
		refuse(fe.status, fe.msg)
		return
	}
	env, err := cv.Form.envelope()
	if errors.As(err, &fe) {
		refuse(fe.status, fe.msg)
		return
	}
	if len(msg) == 0 {
		refuse(http.StatusBadRequest, "Choose a message file (.eml): none was sent, or it is empty.")
		return
	}
	tx, err := dryrun.Transaction(env, bytes.NewReader(msg))
	switch {
	case errors.Is(err, dryrun.ErrNoRecipient):
		refuse(http.StatusBadRequest, "No recipient: give one, or check a message with a To or Cc field.")
		return
	case err != nil:
		refuse(http.StatusBadRequest, "That file is not a mail message: "+err.Error()+".")
		return
	}
	c.deps.Log.Log(0, "web", "user", s.user, "action", "check", "remote", remoteKey(r))
	ctx, cancel := context.WithTimeout(r.Context(), CheckDeadline)
	defer cancel()
	res, err := dryrun.Run(ctx, checkConfig(c.deps.Config()), tx, c.deps.Diag)
	if err != nil {
		c.deps.Diag.Error("web: checking a message", "error", err)
		v.Error = "The check could not run: see the diagnostic log."
		c.render(w, http.StatusInternalServerError, "check", v)
		return
	}
	cr := &checkResult{
		File:     fmt.Sprintf("%s (%d bytes)", oneline.Cut(oneline.Clean(name), 100), len(msg)),
		Final:    stageOf("result", res.Outcome.Final),
		TimedOut: errors.Is(ctx.Err(), context.DeadlineExceeded),
	}
	for _, st := range res.Outcome.Stages {
		cr.Stages = append(cr.Stages, stageOf(st.Stage, st.Decision))
	}
	cr.MailLog, cr.LogCut = shown(res.MailLog)
	hideSignatures(res)
	if cr.Delivered = res.Delivered(); cr.Delivered {
		cr.Quarantined = res.Outcome.Final.Action == policy.Quarantine
		for _, e := range res.Outcome.Final.Edits {
			switch e.Kind {
			case policy.AddRecipient:
				cr.Envelope = append(cr.Envelope, "recipient added: "+e.Name)
			case policy.DeleteRecipient:
				cr.Envelope = append(cr.Envelope, "recipient removed: "+e.Name)
			case policy.ChangeSender:
				cr.Envelope = append(cr.Envelope, "sender changed to: "+e.Name)
			}
		}
		var b bytes.Buffer
		res.WriteMessage(&b)
		cr.Message, cr.MessageCut = shown(b.Bytes())
	}
	if res.Outcome.BodyErr != nil {
		c.deps.Diag.Error("web: checking a message: writing the new body", "error", res.Outcome.BodyErr)
		cr.BodyErr = true
	}
	cv.Result = cr
	c.render(w, http.StatusOK, "check", v)
}

// checkConfig is the configuration a check runs with: cfg, but for
// the SRS and SES secret that signs, a throwaway one (the site's still
// verify). The page shows the message as it would leave, and what the
// site's own secrets sign would let any user of the console, a
// read-only one too, have any sender signed as the site's.
func checkConfig(cfg *config.Config) *config.Config {
	if !cfg.SRS.Enabled() {
		return cfg
	}
	c := *cfg
	c.SRS.Secret = append(config.Secrets{token()}, cfg.SRS.Secret...)
	return &c
}

// hiddenSignature is shown in place of the signature (the b= tag) of
// the DKIM-Signature fields a check adds: one made with the site's key
// would let any user of the console have any message signed as the
// site's (From: ceo@example.org), valid for DKIM and DMARC wherever it
// is sent from.
const hiddenSignature = "(not shown)"

// hideSignatures hides the signatures of the DKIM-Signature fields the
// run of res added, in its edits and in the header as delivered.
func hideSignatures(res *dryrun.Result) {
	edits := res.Outcome.Final.Edits
	for i, e := range edits {
		if e.Kind != policy.InsertHeader || !strings.EqualFold(e.Name, "DKIM-Signature") {
			continue
		}
		for j, h := range res.Header {
			if strings.EqualFold(h.Name, e.Name) && h.Value == e.Value {
				res.Header[j].Value = hideDKIMSignature(h.Value)
			}
		}
		edits[i].Value = hideDKIMSignature(e.Value)
	}
}

// hideDKIMSignature replaces the value of the b= tag of a
// DKIM-Signature field's value (RFC 6376 3.2: tag=value; pairs, with
// folding white space around names and values).
func hideDKIMSignature(v string) string {
	tags := strings.Split(v, ";")
	for i, t := range tags {
		name, _, ok := strings.Cut(t, "=")
		if ok && strings.TrimSpace(name) == "b" {
			tags[i] = name + "=" + hiddenSignature
		}
	}
	return strings.Join(tags, ";")
}

// shown is the text of b a page shows: its first maxShown bytes, as
// UTF-8, and whether it was cut.
func shown(b []byte) (string, bool) {
	cut := len(b) > maxShown
	if cut {
		b = b[:maxShown]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), cut
}
