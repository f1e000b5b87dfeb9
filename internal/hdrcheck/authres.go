package hdrcheck

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/authres"
)

// AuthResults is a parsed Authentication-Results field, as either parser
// saw it.
type AuthResults struct {
	AuthservID string   `json:"authserv_id"`
	Results    []Method `json:"results"`
}

// Method is one resinfo: method=result and its properties ("smtp.mailfrom"
// → value). Property values are decoded: the content of a quoted-string
// with its quoted-pairs undone.
type Method struct {
	Method string            `json:"method"`
	Result string            `json:"result"`
	Reason string            `json:"reason"`
	Props  map[string]string `json:"-"`
}

// Get returns the first result of method, and whether there is one.
func (a AuthResults) Get(method string) (Method, bool) {
	for _, m := range a.Results {
		if m.Method == method {
			return m, true
		}
	}
	return Method{}, false
}

// ParseAuthResultsGo parses the value of an Authentication-Results field
// with github.com/emersion/go-msgauth/authres. That parser (v0.7.0) splits
// the value at every ";" and each resinfo at white space, quoted or not,
// and keeps comments as words: a value is only read right when no
// quoted-string or comment holds a ";" or white space. Property values
// it returns still carry their quotes; they are decoded here.
func ParseAuthResultsGo(v string) (AuthResults, error) {
	id, results, err := authres.Parse(unfold(v))
	if err != nil {
		return AuthResults{}, err
	}
	a := AuthResults{AuthservID: strings.ToLower(id)}
	for _, r := range results {
		var m Method
		switch r := r.(type) {
		case *authres.SPFResult:
			m = Method{Method: "spf", Result: string(r.Value), Reason: r.Reason, Props: props("smtp.mailfrom", r.From, "smtp.helo", r.Helo)}
		case *authres.IPRevResult:
			m = Method{Method: "iprev", Result: string(r.Value), Reason: r.Reason, Props: props("policy.iprev", r.IP)}
		case *authres.DKIMResult:
			m = Method{Method: "dkim", Result: string(r.Value), Reason: r.Reason, Props: props("header.d", r.Domain, "header.i", r.Identifier)}
		case *authres.DMARCResult:
			m = Method{Method: "dmarc", Result: string(r.Value), Reason: r.Reason, Props: props("header.from", r.From)}
		case *authres.AuthResult:
			m = Method{Method: "auth", Result: string(r.Value), Reason: r.Reason, Props: props("smtp.auth", r.Auth)}
		case *authres.GenericResult:
			m = Method{Method: r.Method, Result: string(r.Value), Props: map[string]string{}}
			for k, v := range r.Params {
				m.Props[k] = decode(v)
			}
			m.Reason = m.Props["reason"]
			delete(m.Props, "reason")
		default:
			return a, fmt.Errorf("go-msgauth result of type %T not known to hdrcheck", r)
		}
		a.Results = append(a.Results, m)
	}
	return a, nil
}

// props makes a property map of key, value pairs, leaving out the empty
// values (go-msgauth's typed results cannot tell absent from empty) and
// decoding quoted-strings.
func props(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = decode(kv[i+1])
		}
	}
	return m
}

// decode undoes quoted-strings in a pvalue as written: the whole value
// ("a b") or the local part of an address ("a b"@example.com).
func decode(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	end := closingQuote(v)
	if end < 0 {
		return v
	}
	inner := unquotePairs(v[1:end])
	if rest := v[end+1:]; rest != "" {
		return `"` + inner + `"` + rest // keep the address's own quotes
	}
	return inner
}

// closingQuote returns the index of the quote that ends the quoted-string
// starting at v[0], or -1.
func closingQuote(v string) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unquotePairs undoes quoted-pairs.
func unquotePairs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unfold removes the line breaks of folding.
func unfold(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

//go:embed testdata/parse_authres.py
var pythonScript string

// python is the one python3-authres process of this test binary.
var python struct {
	once sync.Once
	err  error
	mu   sync.Mutex
	in   io.Writer
	out  *bufio.Reader
}

// pythonPath is the interpreter with Debian's python3-authres: the
// system's python3 (Debian installs its modules for /usr/bin/python3, not
// for a python3 earlier in PATH), else python3 from PATH.
func pythonPath() string {
	if p := os.Getenv("MAXWELL_PYTHON3"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

func startPython() error {
	cmd := exec.Command(pythonPath(), "-c", pythonScript)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("python3-authres: %w (install python3 and python3-authres)", err)
	}
	python.in, python.out = in, bufio.NewReader(out)
	return nil // the process ends with the test binary, when its stdin closes
}

// ParseAuthResultsPython parses a whole Authentication-Results field
// (name, colon, value, folded as delivered) with Debian's python3-authres
// in strict mode, through one long-lived python3 process per test binary.
// Property values come back from authres as the content of the
// quoted-string, quoted-pairs not undone; they are decoded here.
func ParseAuthResultsPython(field string) (AuthResults, error) {
	python.once.Do(func() { python.err = startPython() })
	if python.err != nil {
		return AuthResults{}, python.err
	}
	python.mu.Lock()
	defer python.mu.Unlock()
	req, _ := json.Marshal(field)
	if _, err := python.in.Write(append(req, '\n')); err != nil {
		return AuthResults{}, fmt.Errorf("python3-authres: %w", err)
	}
	line, err := python.out.ReadBytes('\n')
	if err != nil {
		return AuthResults{}, fmt.Errorf("python3-authres: %w (is python3-authres installed?)", err)
	}
	var resp struct {
		Error      string `json:"error"`
		AuthservID string `json:"authserv_id"`
		Results    []struct {
			Method, Result, Reason string
			Props                  [][2]string
		} `json:"results"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return AuthResults{}, fmt.Errorf("python3-authres answered %q: %w", line, err)
	}
	if resp.Error != "" {
		return AuthResults{}, fmt.Errorf("python3-authres: %s", resp.Error)
	}
	a := AuthResults{AuthservID: resp.AuthservID}
	for _, r := range resp.Results {
		m := Method{Method: strings.ToLower(r.Method), Result: strings.ToLower(r.Result), Reason: unquotePairs(r.Reason), Props: map[string]string{}}
		for _, p := range r.Props {
			v := p[1]
			if strings.HasPrefix(v, `"`) { // "local"@domain: authres puts the quotes back
				v = decode(v)
			} else {
				v = unquotePairs(v)
			}
			m.Props[p[0]] = v
		}
		a.Results = append(a.Results, m)
	}
	return a, nil
}

// ParseAuthResults parses a whole Authentication-Results field with both
// parsers and fails unless both succeed and agree: the same authserv-id,
// the same methods and results in the same order, and the same property
// values. It returns python3-authres's reading.
func ParseAuthResults(field string) (AuthResults, error) {
	name, value, ok := strings.Cut(field, ":")
	if !ok || !strings.EqualFold(name, "Authentication-Results") {
		return AuthResults{}, fmt.Errorf("not an Authentication-Results field: %q", field)
	}
	py, err := ParseAuthResultsPython(field)
	if err != nil {
		return py, err
	}
	g, err := ParseAuthResultsGo(value)
	if err != nil {
		return py, fmt.Errorf("go-msgauth: %w", err)
	}
	if !reflect.DeepEqual(normal(py), normal(g)) {
		return py, fmt.Errorf("the parsers disagree:\npython3-authres %+v\ngo-msgauth      %+v", normal(py), normal(g))
	}
	return py, nil
}

// normal drops what only one parser reports: reasons go-msgauth keeps
// only for some methods are kept; empty property maps are nil; the DKIM
// properties go-msgauth's DKIMResult has no place for (header.s,
// header.a, header.b) are dropped.
func normal(a AuthResults) AuthResults {
	out := AuthResults{AuthservID: a.AuthservID}
	for _, m := range a.Results {
		if m.Method == "dkim" && len(m.Props) > 0 {
			props := map[string]string{}
			for k, v := range m.Props {
				if k == "header.d" || k == "header.i" {
					props[k] = v
				}
			}
			m.Props = props
		}
		if len(m.Props) == 0 {
			m.Props = nil
		}
		out.Results = append(out.Results, m)
	}
	return out
}
