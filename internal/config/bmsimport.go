package config

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// A bms.py configuration (milter.cfg, an INI file read by Python's
// ConfigParser) carried over to maxwell.toml: maxwell config import.

// Dropped is a bms.py key that an import did not carry over, and why.
type Dropped struct {
	Section, Key string
	Line         int
	Why          string
}

func (d Dropped) String() string {
	return fmt.Sprintf("line %d: [%s] %s: %s", d.Line, oneline.Clean(d.Section), oneline.Clean(d.Key), d.Why)
}

// Why keys are not carried over.
const (
	whyDSPAM   = "dspam, the spam filter bms.py drove, is no longer maintained; maxwell does not carry its settings"
	whyGossip  = "maxwell keeps reputation itself and asks its peers over HTTP with a secret per peer, not GOSSiP's protocol: set [reputation] and [[reputation.peers]] (docs/cooperation.md)"
	whyNotYet  = "maxwell has no such setting yet"
	whyUnknown = "not a key of bms.py's milter.cfg that maxwell knows"
	whyGreyDB  = "maxwell keeps greylisting in its store ([store]), not a file of its own"
)

// bmsKey says where a bms.py key goes: its maxwell section and key and
// how its value is turned, or why it is not carried (why set).
type bmsKey struct {
	section, key string
	kind         bmsKind
	why          string
}

type bmsKind int

const (
	bmsString bmsKind = iota
	bmsSocket         // a path, or libmilter's inet:PORT@HOST
	bmsBool           // 0/1, yes/no, true/false, on/off
	bmsInt
	bmsList    // comma separated, over continuation lines
	bmsSeconds // a number of seconds
	bmsMinutes // a number of minutes
	bmsHours   // a number of hours
	bmsDays    // a number of days
	bmsAccess  // sendmail's access.db: maxwell reads the text beside it
	bmsChinese // block_chinese, a boolean: the charsets bms.py refused for it
)

// bmsKeys maps bms.py's keys (section.key) to maxwell's.
var bmsKeys = map[string]bmsKey{
	"milter.datadir":                  {"milter", "datadir", bmsString, ""},
	"milter.socket":                   {"milter", "socket", bmsSocket, ""},
	"milter.tempdir":                  {"milter", "tempdir", bmsString, ""},
	"milter.timeout":                  {"milter", "timeout", bmsSeconds, ""},
	"milter.log_headers":              {"milter", "log_headers", bmsBool, ""},
	"milter.internal_connect":         {"milter", "internal_connect", bmsList, ""},
	"milter.internal_domains":         {"milter", "internal_domains", bmsList, ""},
	"milter.trusted_relay":            {"milter", "trusted_relay", bmsList, ""},
	"milter.private_relay":            {"milter", "private_relay", bmsList, ""},
	"milter.internal_mta":             {"milter", "internal_mta", bmsList, ""},
	"milter.hello_blacklist":          {"milter", "hello_blacklist", bmsList, ""},
	"milter.check_user":               {"milter", "check_user", bmsList, ""},
	"milter.case_sensitive_localpart": {"milter", "case_sensitive_localpart", bmsBool, ""},
	"milter.max_demerits":             {"milter", "max_demerits", bmsInt, ""},
	"defang.scan_rfc822":              {"defang", "scan_rfc822", bmsBool, ""},
	"defang.scan_zip":                 {"defang", "scan_zip", bmsBool, ""},
	"defang.scan_html":                {"defang", "scan_html", bmsBool, ""},
	"defang.block_chinese":            {"defang", "block_charsets", bmsChinese, ""},
	"defang.block_forward":            {"defang", "block_forward", bmsList, ""},
	"defang.porn_words":               {"defang", "porn_words", bmsList, ""},
	"defang.spam_words":               {"defang", "spam_words", bmsList, ""},
	"defang.from_words":               {"defang", "from_words", bmsList, ""},
	"defang.banned_exts":              {"defang", "banned_exts", bmsList, ""},
	"srs.banned_users":                {"srs", "banned_users", bmsList, ""},
	"srs.config":                      {"srs", "config", bmsString, ""},
	"srs.secret":                      {"srs", "secret", bmsString, ""},
	"srs.maxage":                      {"srs", "maxage", bmsInt, ""},
	"srs.hashlength":                  {"srs", "hashlength", bmsInt, ""},
	"srs.separator":                   {"srs", "separator", bmsString, ""},
	"srs.database":                    {why: "maxwell writes self-contained SRS addresses (pysrs's Guarded scheme) and keeps no SRS database"},
	"srs.fwdomain":                    {"srs", "fwdomain", bmsString, ""},
	"srs.reject_spoofed":              {"srs", "reject_spoofed", bmsBool, ""},
	"srs.ses":                         {"srs", "ses", bmsList, ""},
	"srs.sign":                        {"srs", "sign", bmsList, ""},
	"srs.srs":                         {"srs", "srs", bmsList, ""},
	"srs.nosrs":                       {"srs", "nosrs", bmsList, ""},
	"spf.delegate":                    {"spf", "delegate", bmsString, ""},
	"spf.reject_neutral":              {"spf", "reject_neutral", bmsList, ""},
	"spf.best_guess":                  {"spf", "best_guess", bmsBool, ""},
	"spf.reject_noptr":                {"spf", "reject_noptr", bmsBool, ""},
	"spf.accept_softfail":             {"spf", "accept_softfail", bmsList, ""},
	"spf.accept_fail":                 {"spf", "accept_fail", bmsList, ""},
	"spf.access_file":                 {"spf", "access_file", bmsAccess, ""},
	"spf.supply_sender":               {"spf", "supply_sender", bmsBool, ""},
	"spf.trusted_forwarder":           {"spf", "trusted_forwarder", bmsList, ""},
	"scrub.hide_path":                 {"scrub", "hide_path", bmsList, ""},
	"scrub.reject_virus_from":         {"scrub", "reject_virus_from", bmsList, ""},
	"scrub.internal_policy":           {why: whyNotYet},
	"wiretap.blind":                   {"wiretap", "blind", bmsBool, ""},
	"wiretap.users":                   {"wiretap", "users", bmsList, ""},
	"wiretap.dest":                    {"wiretap", "dest", bmsString, ""},
	"wiretap.discard_users":           {"wiretap", "discard", bmsList, ""},
	"wiretap.mail_archive":            {"wiretap", "archive", bmsString, ""},
	"dspam.whitelist_senders":         {"whitelist", "senders", bmsList, ""},
	"dspam.whitelist_mx":              {why: "maxwell sends its auto-whitelist to no other MX: several MX hosts share one PostgreSQL store instead ([store] driver)"},
	"greylist.dbfile":                 {why: whyGreyDB},
	"greylist.time":                   {"greylist", "delay", bmsMinutes, ""},
	"greylist.expire":                 {"greylist", "retry_window", bmsHours, ""},
	"greylist.retain":                 {"greylist", "pass_ttl", bmsDays, ""},
}

// bmsSectionWhy is why a whole section is not carried, for keys bmsKeys
// does not name.
var bmsSectionWhy = map[string]string{
	"default": "a [DEFAULT] value is used for %(key)s in the other sections; set the key in its own section",
	"dspam":   whyDSPAM,
	"gossip":  whyGossip,
	"dkim":    "bms.py's [dkim] domain, selector and privkey are one entry of [dkim] keys here, {domain, selector, privkey} under the same names: copy them over (docs/dkim-dmarc.md)",
}

// iniEntry is one key of an INI file.
type iniEntry struct {
	section, key, value string
	line                int
}

// parseINI reads an INI file as Python's ConfigParser does: [section]
// headers, "key = value" or "key: value" (keys lower-cased), full-line
// comments starting # or ;, a ; comment after white space, lines
// starting with white space continuing the value above, and line ends
// of any kind (\n, \r\n, \r). Then values are interpolated (see
// interpolate).
func parseINI(name string, src []byte) ([]iniEntry, error) {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	src = bytes.ReplaceAll(src, []byte("\r"), []byte("\n"))
	var entries []iniEntry
	var lines [][]string // each entry's value lines, joined at the end
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), safefile.MaxSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(entries) == 0 || entries[len(entries)-1].section != section {
				return nil, fmt.Errorf("%s:%d: a continuation line with no key above it", name, n)
			}
			lines[len(lines)-1] = append(lines[len(lines)-1], stripINIComment(trimmed))
			continue
		case trimmed[0] == '[':
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: a section header without ]", name, n)
			}
			section = strings.ToLower(strings.TrimSpace(trimmed[1:end]))
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: neither a section, a key = value nor a comment", name, n)
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: a key before any [section]", name, n)
		}
		entries = append(entries, iniEntry{section: section, key: strings.ToLower(strings.TrimSpace(line[:i])), line: n})
		lines = append(lines, []string{stripINIComment(strings.TrimSpace(line[i+1:]))})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := range entries {
		entries[i].value = strings.Join(lines[i], "\n")
	}
	return interpolate(name, entries)
}

// interpolate does ConfigParser's: %(key)s is the value of key in the
// same section, else in [DEFAULT]; %% is %. Values are expanded once,
// as deep as ConfigParser goes (10 levels).
func interpolate(name string, entries []iniEntry) ([]iniEntry, error) {
	values := map[string]string{} // section.key → raw value
	for _, e := range entries {
		values[e.section+"."+e.key] = e.value
	}
	var expand func(e iniEntry, v string, depth int) (string, error)
	expand = func(e iniEntry, v string, depth int) (string, error) {
		if !strings.Contains(v, "%") {
			return v, nil
		}
		if depth > 10 {
			return "", fmt.Errorf("%s:%d: [%s] %s: %%(...)s nested more than 10 deep", name, e.line, e.section, e.key)
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] != '%' {
				b.WriteByte(v[i])
				continue
			}
			rest := v[i+1:]
			switch {
			case strings.HasPrefix(rest, "%"):
				b.WriteByte('%')
				i++
			case strings.HasPrefix(rest, "("):
				end := strings.Index(rest, ")s")
				if end < 0 {
					return "", fmt.Errorf("%s:%d: [%s] %s: a %% that is neither %%%% nor %%(key)s", name, e.line, e.section, e.key)
				}
				key := strings.ToLower(rest[1:end])
				ref, ok := values[e.section+"."+key]
				if !ok {
					ref, ok = values["default."+key]
				}
				if !ok {
					return "", fmt.Errorf("%s:%d: [%s] %s: %%(%s)s names no key of [%s] or [DEFAULT]", name, e.line, e.section, e.key, key, e.section)
				}
				x, err := expand(e, ref, depth+1)
				if err != nil {
					return "", err
				}
				b.WriteString(x)
				i += end + 2
			default:
				return "", fmt.Errorf("%s:%d: [%s] %s: a %% that is neither %%%% nor %%(key)s", name, e.line, e.section, e.key)
			}
		}
		return b.String(), nil
	}
	for i, e := range entries {
		v, err := expand(e, e.value, 0)
		if err != nil {
			return nil, err
		}
		entries[i].value = v
	}
	return entries, nil
}

// stripINIComment cuts a ; comment that follows white space.
func stripINIComment(v string) string {
	for i := 1; i < len(v); i++ {
		if v[i] == ';' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i])
		}
	}
	return v
}

// ImportBMS turns bms.py's milter.cfg (named name, for messages) into a
// maxwell.toml and lists what it did not carry over. The result parses
// as a configuration (Parse); a value bms.py would have refused is an
// error naming its line.
func ImportBMS(name string, src []byte) (out []byte, dropped []Dropped, err error) {
	entries, err := parseINI(name, src)
	if err != nil {
		return nil, nil, err
	}
	values := map[string]map[string]string{} // maxwell section → key → TOML value
	var aliases [][]string                   // [smart_alias]: wiretap.smart_alias
	drop := func(e iniEntry, why string) {
		dropped = append(dropped, Dropped{e.section, e.key, e.line, why})
	}
	for _, e := range entries {
		if e.section == "smart_alias" {
			alias, err := smartAlias(e)
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", name, e.line, err)
			}
			aliases = append(aliases, alias)
			continue
		}
		k, ok := bmsKeys[e.section+"."+e.key]
		switch {
		case !ok && bmsSectionWhy[e.section] != "":
			drop(e, bmsSectionWhy[e.section])
			continue
		case !ok:
			drop(e, whyUnknown)
			continue
		case k.why != "":
			drop(e, k.why)
			continue
		}
		v, err := bmsValue(k.kind, e)
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: [%s] %s: %w", name, e.line, e.section, e.key, err)
		}
		if values[k.section] == nil {
			values[k.section] = map[string]string{}
		}
		values[k.section][k.key] = v
	}
	if len(aliases) > 0 {
		if values["wiretap"] == nil {
			values["wiretap"] = map[string]string{}
		}
		values["wiretap"]["smart_alias"] = tomlListOfLists(aliases)
	}
	out = renderImport(name, values, dropped)
	if _, err := Parse(name+" (imported)", out); err != nil {
		return nil, nil, fmt.Errorf("the imported configuration does not parse: %w", err)
	}
	return out, dropped, nil
}

// bmsValue turns a bms.py value into a TOML value of the kind given.
func bmsValue(kind bmsKind, e iniEntry) (string, error) {
	v := strings.TrimSpace(e.value)
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("the value is not UTF-8 (convert the file: iconv -f latin1 -t utf-8)")
	}
	switch kind {
	case bmsString:
		return tomlQuote(v), nil
	case bmsSocket:
		if strings.HasPrefix(v, "/") {
			v = "unix:" + v
		}
		return tomlQuote(v), nil
	case bmsBool:
		switch strings.ToLower(v) {
		case "1", "yes", "true", "on":
			return "true", nil
		case "0", "no", "false", "off":
			return "false", nil
		}
		return "", fmt.Errorf("%s is not a boolean (0 or 1, yes or no, true or false, on or off)", strconv.Quote(v))
	case bmsInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return "", fmt.Errorf("%s is not a whole number", strconv.Quote(v))
		}
		return strconv.Itoa(n), nil
	case bmsSeconds, bmsMinutes, bmsHours, bmsDays:
		unit := map[bmsKind]time.Duration{bmsSeconds: time.Second, bmsMinutes: time.Minute, bmsHours: time.Hour, bmsDays: 24 * time.Hour}[kind]
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(n) || n < 0 || n > float64(math.MaxInt64/int64(unit)) {
			return "", fmt.Errorf("%s is not a number of %s from 0 to %d", strconv.Quote(v), unitName[kind], math.MaxInt64/int64(unit))
		}
		return tomlQuote(time.Duration(n * float64(unit)).String()), nil
	case bmsChinese:
		on, err := bmsValue(bmsBool, e)
		if err != nil || on == "false" {
			return "[]", err
		}
		return tomlList([]string{"big5", "iso-2022-jp"}), nil
	case bmsAccess:
		// bms.py read sendmail's compiled map; maxwell reads its text.
		return tomlQuote(strings.TrimSuffix(v, ".db")), nil
	}
	return tomlList(splitBMSList(v)), nil
}

// unitName names the unit of a duration kind, for errors.
var unitName = map[bmsKind]string{bmsSeconds: "seconds", bmsMinutes: "minutes", bmsHours: "hours", bmsDays: "days"}

// splitBMSList splits a bms.py list: items separated by commas or line ends,
// empty ones left out.
func splitBMSList(v string) []string {
	var out []string
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// smartAlias turns "alias = sender, recipient[, destination ...]" into
// maxwell's [sender, recipient, destination ...]; without a destination,
// the alias itself is one (a local alias, as bms.py took it).
func smartAlias(e iniEntry) ([]string, error) {
	items := splitBMSList(e.value)
	if len(items) < 2 {
		return nil, fmt.Errorf("[smart_alias] %s: a sender and a recipient are needed, got %q", e.key, e.value)
	}
	if len(items) == 2 {
		items = append(items, e.key)
	}
	return items, nil
}

// sectionOrder lists maxwell's sections in the order of Config.
func sectionOrder() []string {
	t := reflect.TypeOf(Config{})
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("toml")
	}
	return names
}

func tomlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = tomlQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlQuote writes s as a TOML basic string: " and \ escaped, control
// characters as \uXXXX (Go's quoting has escapes TOML reads otherwise).
// A byte that is not UTF-8 is written as U+FFFD.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlListOfLists(lists [][]string) string {
	rows := make([]string, len(lists))
	for i, l := range lists {
		rows[i] = "  " + tomlList(l) + ","
	}
	return "[\n" + strings.Join(rows, "\n") + "\n]"
}

// renderImport writes the imported configuration: a header, the
// sections in maxwell's order, then what was not carried, as comments.
func renderImport(name string, values map[string]map[string]string, dropped []Dropped) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# maxwell.toml imported from bms.py's %s by `maxwell config import`.\n", oneline.Quote(name))
	b.WriteString("# Every key not set here keeps maxwell's default (man maxwell.toml);\n")
	b.WriteString("# check it with `maxwell config check`.\n")
	for _, section := range sectionOrder() {
		keys := values[section]
		if len(keys) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", section)
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fmt.Fprintf(&b, "%s = %s\n", k, keys[k])
		}
	}
	if len(dropped) > 0 {
		b.WriteString("\n# Not carried over from " + oneline.Quote(name) + ":\n")
		for _, d := range dropped {
			fmt.Fprintf(&b, "#   %s\n", d)
		}
	}
	return b.Bytes()
}
