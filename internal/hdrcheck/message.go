package hdrcheck

import (
	"fmt"
	"strings"
)

// Field is one header field: its name and its value as delivered
// (after the colon, folding kept).
type Field struct {
	Name, Value string
}

// String is the field as written: "Name:Value".
func (f Field) String() string { return f.Name + ":" + f.Value }

// TopFields returns the header fields of a delivered message (CRLF or LF
// line ends) above its first Received field: the fields the receiving
// MTA's milter inserted at the top, above the MTA's own Received line
// (Postfix and Sendmail both put them there). A line that is neither a
// field nor its continuation is an error.
func TopFields(data string) ([]Field, error) {
	head, _, _ := strings.Cut(strings.ReplaceAll(data, "\r\n", "\n"), "\n\n")
	var fields []Field
	for _, line := range strings.Split(head, "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, fmt.Errorf("the header starts with a continuation line %q", line)
			}
			fields[len(fields)-1].Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("header line %q is neither a field nor a continuation", line)
		}
		if strings.EqualFold(name, "Received") {
			break
		}
		fields = append(fields, Field{name, value})
	}
	return fields, nil
}

// Message checks the Received-SPF and Authentication-Results fields
// maxwell inserted into a delivered message (those above the first
// Received field): every Received-SPF with ParseReceivedSPF, every
// Authentication-Results with both parsers, which must agree. It returns
// one error per field that fails, naming the field.
func Message(data string) []error {
	fields, err := TopFields(data)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, f := range fields {
		var err error
		switch strings.ToLower(f.Name) {
		case "received-spf":
			_, err = ParseReceivedSPF(f.Value)
		case "authentication-results":
			_, err = ParseAuthResults(f.String())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errs
}
