package config

import (
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// Redacted is what WriteRedacted writes in place of a secret.
const Redacted = "(redacted)"

// The values of the struct tag redact, which marks the settings that
// are or hold secrets. TestSecretsTagged requires one on every setting
// whose name looks like a secret's, so that a new one cannot be shown
// by oversight.
const (
	redactSecret   = "secret"   // the whole value, or each string of a list
	redactPassword = "password" // the passwords a connection string or URL holds, the rest shown
	redactNone     = "none"     // named like a secret and not one (a file's path, a length)
)

// WriteRedacted writes c as TOML, every secret replaced by Redacted:
// what the web console shows. Load reads the text back as c, but for
// the markers.
func (c *Config) WriteRedacted(w io.Writer) error {
	r := *c
	redact(reflect.ValueOf(&r).Elem())
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	return enc.Encode(&r)
}

// redact hides the secrets in v, part of a shallow copy: the lists and
// pointers on the way are copied before anything is changed in them,
// since the copy shares them with the configuration in use.
func redact(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() { // a socket's or pattern's text: written by its MarshalText
				continue
			}
			switch f.Tag.Get("redact") {
			case "":
				redact(v.Field(i))
			case redactNone:
			case redactPassword:
				if v.Field(i).Kind() == reflect.String {
					v.Field(i).SetString(hidePasswords(v.Field(i).String()))
					break
				}
				hide(v.Field(i))
			default: // redactSecret, or a tag misspelt: hidden whole
				hide(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range c.Len() {
			redact(c.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			redact(v.Index(i))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		v.Set(c)
		redact(c.Elem())
	}
}

// hide replaces a secret: a string, or each string of a list, that is
// set. One left empty stays empty, which tells that none is set.
func hide(v reflect.Value) {
	switch {
	case v.Kind() == reflect.String:
		if v.Len() > 0 {
			v.SetString(Redacted)
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			if v.Index(i).Len() > 0 {
				c.Index(i).SetString(Redacted)
			}
		}
		v.Set(c)
	default: // not written at all (TestSecretsTagged keeps secrets to strings)
		v.SetZero()
	}
}

// hidePasswords replaces the passwords of a connection string: those of
// a URL (postgres://user:PASSWORD@host/db?sslpassword=PASSWORD), or the
// values of a PostgreSQL key=value string's password keys
// (host=db password=PASSWORD). What cannot be read as either is hidden
// whole.
func hidePasswords(s string) string {
	if s == "" {
		return s
	}
	var (
		out string
		ok  bool
	)
	if urlScheme.MatchString(s) {
		out, ok = hideURLPasswords(s)
	} else {
		out, ok = hideKeywordPasswords(s)
	}
	if !ok {
		return Redacted
	}
	return out
}

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// isPasswordKey reports whether a key of a connection string holds a
// password: libpq's password and sslpassword, in any case.
func isPasswordKey(k string) bool { return strings.Contains(strings.ToLower(k), "password") }

// hideURLPasswords hides the password of a URL's user information and
// the values of its password query parameters.
func hideURLPasswords(s string) (string, bool) {
	i := strings.Index(s, "://") + len("://")
	var b strings.Builder
	b.WriteString(s[:i])
	rest := s[i:]
	// libpq ends the user information at the first @ before the first
	// /, Go's url.Parse at the last before the first /, ? or #: hiding
	// from its first colon to the last @ before the first / hides the
	// password either reads. A ? in it would be a query to Go and a
	// user name to libpq: not read.
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		user := rest[:at]
		if strings.ContainsAny(user, "?#") {
			return "", false
		}
		if c := strings.IndexByte(user, ':'); c >= 0 && c < len(user)-1 {
			user = user[:c+1] + Redacted
		}
		b.WriteString(user + "@")
		rest = rest[at+1:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		b.WriteString(rest)
		return b.String(), true
	}
	b.WriteString(rest[:q+1])
	for i, p := range strings.Split(rest[q+1:], "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, v, _ := strings.Cut(p, "=")
		key, err := url.PathUnescape(k)
		if err != nil {
			return "", false
		}
		if isPasswordKey(key) && v != "" {
			p = k + "=" + Redacted
		}
		b.WriteString(p)
	}
	return b.String(), true
}

// connSpace is what separates the keys of a key=value connection
// string (libpq's isspace).
const connSpace = " \t\n\r\v\f"

// hideKeywordPasswords hides the values of the password keys of a
// PostgreSQL key=value connection string, read as libpq (and pgx)
// read it: a value runs to the next blank or, in single quotes, to the
// closing quote, and a backslash escapes the character after it.
func hideKeywordPasswords(s string) (string, bool) {
	var b strings.Builder
	rest := s
	for {
		value := strings.TrimLeft(rest, connSpace)
		b.WriteString(rest[:len(rest)-len(value)])
		if value == "" {
			return b.String(), true
		}
		eq := strings.IndexByte(value, '=')
		if eq < 0 {
			return "", false
		}
		key := strings.Trim(value[:eq], connSpace)
		rest = value
		value = strings.TrimLeft(value[eq+1:], connSpace)
		b.WriteString(rest[:len(rest)-len(value)]) // the key, = and the blanks after it
		n, ok := connValueLen(value)
		if !ok {
			return "", false
		}
		if isPasswordKey(key) && n > 0 {
			b.WriteString(Redacted)
		} else {
			b.WriteString(value[:n])
		}
		rest = value[n:]
	}
}

// connValueLen is the length of the value s starts with, its quotes
// included; false if a quote is not closed.
func connValueLen(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	if s[0] != '\'' {
		end := 0
		for ; end < len(s) && !strings.ContainsRune(connSpace, rune(s[end])); end++ {
			if s[end] == '\\' {
				end++
			}
		}
		return min(end, len(s)), true
	}
	for end := 1; end < len(s); end++ {
		switch s[end] {
		case '\\':
			end++
		case '\'':
			return end + 1, true
		}
	}
	return 0, false
}
