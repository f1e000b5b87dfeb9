package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Error is a configuration problem, located where possible.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted, e.g. "milter.timeout"; empty for syntax errors
	Msg  string
}

// Error is one line: FILE:LINE: KEY: MESSAGE. What came from the file
// is escaped and cut, so that no value can flood or drive a terminal.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(oneline.Escape(e.File, 4096))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", oneline.Escape(e.Key, 2*oneline.MaxQuoted))
	}
	// A message quotes values cut already; it may also name paths and the
	// command that fixes them (the preflight's), which need more room.
	b.WriteString(oneline.Escape(e.Msg, 8*oneline.MaxQuoted))
	return b.String()
}

// Errors is every problem found in one file, up to maxErrors of them;
// a last one says how many more there were.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// maxErrors is how many problems of one file are reported in detail.
const maxErrors = 20

// report gathers the problems of one file.
type report struct {
	file  string
	src   []byte
	lines map[string]int // key -> line, made when first needed
	errs  Errors
	more  int             // problems past maxErrors
	gone  map[string]bool // unknown tables: their keys are not reported again
}

func (r *report) add(key, msg string) {
	if r.lines == nil {
		r.lines = keyLines(r.src)
	}
	r.addError(&Error{File: r.file, Line: r.lines[key], Key: key, Msg: msg})
}

// addError adds a problem located already.
func (r *report) addError(e *Error) {
	if len(r.errs) == maxErrors {
		r.more++
		return
	}
	r.errs = append(r.errs, e)
}

// unknown reports a key no setting has, with the one meant if it can
// tell; table says whether the key is a table ([section]).
func (r *report) unknown(k toml.Key, table bool) {
	for i := 1; i < len(k); i++ {
		if r.gone[strings.Join(k[:i], ".")] {
			return // inside an unknown table, reported already
		}
	}
	raw := strings.Join(k, ".")
	if table {
		if r.gone == nil {
			r.gone = map[string]bool{}
		}
		r.gone[raw] = true
	}
	if len(r.errs) == maxErrors {
		r.more++
		return
	}
	if r.lines == nil {
		r.lines = keyLines(r.src)
	}
	r.errs = append(r.errs, &Error{File: r.file, Line: r.lines[raw], Key: keyName(k), Msg: unknownMsg(k, table)})
}

func (r *report) errors() error {
	if r.more > 0 {
		r.errs = append(r.errs, &Error{File: r.file, Msg: fmt.Sprintf("… and %d more problems", r.more)})
	}
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs
}

// keyName is a key as an administrator would write it: bare words, a
// part with other characters quoted and cut.
func keyName(k toml.Key) string {
	parts := make([]string, len(k))
	for i, p := range k {
		parts[i] = p
		if !bareKey(p) {
			parts[i] = oneline.Quote(p)
		}
	}
	return strings.Join(parts, ".")
}

func bareKey(s string) bool {
	if s == "" || len(s) > oneline.MaxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// unknownMsg says what is wrong with an unknown key and, when a known
// one is near (a typo) or has that name in another section, which.
func unknownMsg(k toml.Key, table bool) string {
	what := "unknown key"
	if table && len(k) == 1 {
		what = "unknown section"
	}
	name := strings.ToLower(k[len(k)-1])
	if len(name) > 64 {
		return what
	}
	known := knownKeys()
	switch {
	case len(k) == 1:
		if s := nearest(name, known.sections); s != "" {
			return fmt.Sprintf("%s; did you mean [%s]?", what, s)
		}
	case len(k) == 2 && known.keys[strings.ToLower(k[0])] != nil:
		if s := nearest(name, known.keys[strings.ToLower(k[0])]); s != "" {
			return fmt.Sprintf("%s; did you mean `%s`?", what, s)
		}
	default:
		return what
	}
	var in []string
	for _, sec := range known.sections {
		for _, key := range known.keys[sec] {
			if key == name {
				in = append(in, "["+sec+"]")
			}
		}
	}
	if len(in) > 0 {
		return fmt.Sprintf("%s; `%s` belongs in %s", what, name, strings.Join(in, " or "))
	}
	return what
}

// known is every section and key of Config, from its struct tags.
type known struct {
	sections []string
	keys     map[string][]string // section -> its keys
}

var knownKeys = sync.OnceValue(func() known {
	k := known{keys: map[string][]string{}}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		sec := t.Field(i).Tag.Get("toml")
		k.sections = append(k.sections, sec)
		st := t.Field(i).Type
		for j := 0; j < st.NumField(); j++ {
			k.keys[sec] = append(k.keys[sec], st.Field(j).Tag.Get("toml"))
		}
	}
	return k
})

// nearest returns the candidate closest to name, if it is close enough
// to be a typo of it: a letter or so wrong, missing, extra or swapped
// for every four.
func nearest(name string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := distance(name, c)
		if d <= max(1, len(c)/4) && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent bytes.
func distance(a, b string) int {
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// keyLines indexes where each dotted key (or table) is first written,
// in one pass, for the errors the TOML decoder cannot locate itself.
func keyLines(src []byte) map[string]int {
	lines := map[string]int{}
	note := func(key string, n int) {
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	table := ""
	for i, line := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if strings.HasPrefix(t, "[") {
			inner, _, _ := strings.Cut(t, "#")
			table = normKey(strings.Trim(inner, " \t[]"))
			note(table, i+1)
			continue
		}
		lhs, _, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		full := normKey(lhs)
		if table != "" {
			full = table + "." + full
		}
		note(full, i+1)
	}
	return lines
}

func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// decodeError turns what the TOML decoder says into an Error in an
// administrator's words.
func decodeError(file string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	// Type mismatches come as plain errors that carry line and key in
	// their text: "toml: line 2 (last key \"a.b\"): incompatible ...".
	m := decodeErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	key, msg := m[2], m[3]
	if t := typeErrRE.FindStringSubmatch(msg); t != nil {
		msg = expected(t[2], kindOf(t[1]))
	} else if t := tableErrRE.FindStringSubmatch(msg); t != nil {
		msg = "a table is expected, not " + kindOf(t[1])
		if !strings.Contains(key, ".") {
			msg = fmt.Sprintf("a section is expected, not %s: write [%s] on a line of its own, its keys below it", kindOf(t[1]), key)
		}
	}
	return &Error{File: file, Line: line, Key: key, Msg: msg}
}

var (
	decodeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
	typeErrRE   = regexp.MustCompile(`^incompatible types: TOML value has type (.*); destination has type (.*)$`)
	tableErrRE  = regexp.MustCompile(`^type mismatch for .*: expected table but found (.*)$`)
)

// expected says what a key of the destination type takes, for a value
// of the kind given.
func expected(dest, kind string) string {
	switch dest {
	case "boolean":
		return "true or false is expected, not " + kind + ": write true or false, without quotes"
	case "slice":
		return "a list is expected, not " + kind + `: write ["a", "b"]`
	case "integer":
		if kind == kindOf("float64") {
			return "a whole number is expected, not " + kind
		}
		return "a number is expected, not " + kind + ": write it without quotes, e.g. 5"
	case "string":
		return "a string is expected, not " + kind + `: write it in double quotes, e.g. "text"`
	case "primitive (string-like)":
		return "one value is expected, not " + kind
	}
	return "a " + dest + " is expected, not " + kind
}

// kindOf names a TOML value's kind from its Go type's name ("int64",
// "[]any", as the decoder writes them or %T gives them).
func kindOf(goType string) string {
	switch strings.ReplaceAll(goType, "interface {}", "any") {
	case "string":
		return "a string"
	case "int64":
		return "a number"
	case "float64":
		return "a decimal number"
	case "bool":
		return "true or false"
	case "[]any", "[]map[string]any":
		return "a list"
	case "map[string]any":
		return "a table"
	case "time.Time", "toml.LocalDate", "toml.LocalTime", "toml.LocalDatetime":
		return "a date or time"
	}
	return "a " + goType
}

// kindOfValue names the kind of a value the decoder hands to an
// UnmarshalTOML method.
func kindOfValue(v any) string { return kindOf(fmt.Sprintf("%T", v)) }
