package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"
)

// secretName is what the name of a setting holding a secret looks like.
var secretName = regexp.MustCompile(`secret|passw|passphrase|pwd|hash|token|dsn|credential|privkey|private_?key|api_?key|(^|_)keys?($|_)|salt|cookie|auth`)

// settings calls visit with every setting of t and of the tables it
// holds (lists of them included), by its dotted key.
func settings(t reflect.Type, prefix string, visit func(key string, f reflect.StructField)) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key := strings.TrimPrefix(prefix+"."+f.Tag.Get("toml"), ".")
		visit(key, f)
		inner := f.Type
		for inner.Kind() == reflect.Slice || inner.Kind() == reflect.Pointer || inner.Kind() == reflect.Array {
			inner = inner.Elem()
		}
		if inner.Kind() == reflect.Struct && !isLeaf(inner) {
			settings(inner, key, visit)
		}
	}
}

// isLeaf reports whether t is written as one value (a socket, a
// pattern), not as a table.
func isLeaf(t reflect.Type) bool {
	for _, m := range []string{"MarshalText", "MarshalTOML"} {
		if _, ok := t.MethodByName(m); ok {
			return true
		}
	}
	return false
}

// The guard: every setting named like a secret says, with its redact
// tag, whether and how it is hidden; a secret is a string or a list of
// them, which hide knows; nothing is a map, which redact would not look
// into. A key added later fails here until it is tagged.
func TestSecretsTagged(t *testing.T) {
	settings(reflect.TypeOf(Config{}), "", func(key string, f reflect.StructField) {
		tag, tagged := f.Tag.Lookup("redact")
		kind := f.Type.Kind()
		if kind == reflect.Map || kind == reflect.Interface {
			t.Errorf("%s is a %s: redact does not look into one; teach it, and this test", key, kind)
		}
		last := key[strings.LastIndexByte(key, '.')+1:]
		inner := f.Type
		for inner.Kind() == reflect.Slice || inner.Kind() == reflect.Pointer {
			inner = inner.Elem()
		}
		if !tagged && secretName.MatchString(last) && (inner.Kind() != reflect.Struct || isLeaf(inner)) {
			t.Errorf(`%s looks like a secret: tag its field redact:"secret" (hidden), redact:"password" (a connection string's passwords hidden) or redact:"none" (shown: not a secret)`, key)
		}
		switch {
		case !tagged, tag == redactNone:
		case tag == redactSecret && (kind == reflect.String || kind == reflect.Slice && f.Type.Elem().Kind() == reflect.String):
		case tag == redactPassword && kind == reflect.String:
		default:
			t.Errorf("%s: redact:%q on a %s: want secret (a string or a list of them), password (a string) or none", key, tag, f.Type)
		}
	})
}

// fillSecrets sets every secret of v to a value of its own, with a list
// of tables given one table to hold it, and returns the parts that must
// not be shown.
func fillSecrets(v reflect.Value, key string) []string {
	var secrets []string
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			k := key + "." + f.Tag.Get("toml")
			mark := "sekrit" + strings.ReplaceAll(k, ".", "-")
			switch f.Tag.Get("redact") {
			case redactSecret:
				if f.Type.Kind() == reflect.String {
					v.Field(i).SetString(mark)
				} else {
					v.Field(i).Set(reflect.ValueOf([]string{mark + "-1", mark + "-2"}).Convert(f.Type))
				}
				secrets = append(secrets, mark)
			case redactPassword:
				v.Field(i).SetString("postgres://maxwell:" + mark + "@db.example.org/maxwell?sslpassword=" + mark + "-ssl")
				secrets = append(secrets, mark)
			case "":
				secrets = append(secrets, fillSecrets(v.Field(i), k)...)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct && !isLeaf(v.Type().Elem()) && v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			secrets = append(secrets, fillSecrets(v.Index(i), key)...)
		}
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && !isLeaf(v.Type().Elem()) {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			secrets = append(secrets, fillSecrets(v.Elem(), key)...)
		}
	}
	return secrets
}

// Every setting tagged a secret is hidden, wherever it is, and the
// configuration written is left as it was.
func TestWriteRedactedHidesEverySecret(t *testing.T) {
	cfg, orig := Default(), Default()
	secrets := fillSecrets(reflect.ValueOf(cfg).Elem(), "")
	fillSecrets(reflect.ValueOf(orig).Elem(), "")
	if len(secrets) < 5 { // srs.secret, store.dsn, the peers' url and secret, the users' password_hash
		t.Fatalf("only %d secrets found: %v", len(secrets), secrets)
	}
	var b bytes.Buffer
	if err := cfg.WriteRedacted(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(b.String(), s) {
			t.Errorf("%s is shown:\n%s", s, b.String())
		}
	}
	for _, want := range []string{"[store]", "dsn = \"postgres://maxwell:" + Redacted + "@db.example.org/maxwell?sslpassword=" + Redacted + "\"", "[[web.users]]", "password_hash = \"" + Redacted + "\"",
		"[[reputation.peers]]", "secret = [\"" + Redacted + "\", \"" + Redacted + "\"]"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s is missing:\n%s", want, b.String())
		}
	}
	if !reflect.DeepEqual(cfg, orig) {
		t.Error("WriteRedacted changed the configuration it wrote")
	}
}

// The secrets a configuration file holds are not in the text written,
// and the rest reads back as it was.
func TestWriteRedactedFile(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("a password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	src := `
[srs]
secret = ["srs-secret-new", "srs-secret-old"]
fwdomain = "srs.example.org"

[store]
driver = "postgres"
dsn = "host=db.example.org user=maxwell password='pg pass\\'phr4se' dbname=maxwell"

[reputation]
enabled = true
[[reputation.peers]]
name = "friend"
url = "https://peer.example.net/gossip"
secret = "peer-secret-0123456789abcdef"

[[web.users]]
name = "alice"
password_hash = "` + string(hash) + `"
`
	cfg, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := cfg.WriteRedacted(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"srs-secret", "peer-secret", "pg pass", "phr4se", string(hash), "$2a$"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("%q is shown:\n%s", s, b.String())
		}
	}
	for _, s := range []string{`fwdomain = "srs.example.org"`, `host=db.example.org user=maxwell password=(redacted) dbname=maxwell`, `name = "alice"`, `url = "https://peer.example.net/gossip"`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("%q is missing:\n%s", s, b.String())
		}
	}
	// Read back, only the marker in place of a password hash is refused.
	_, err = Parse("redacted.toml", b.Bytes())
	if err == nil || !strings.Contains(err.Error(), "password_hash") || strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("reading the redacted text: %v, want only the password hash refused", err)
	}
}

// What WriteRedacted writes reads back as the configuration written,
// but for the markers: the defaults, the example file (as it is, and
// with every key it comments out set), and a file with a value of every
// kind.
func TestWriteRedactedRoundTrip(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "maxwell.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	full := `
[milter]
socket = "inet:127.0.0.1:8899"
timeout = 300
spool_threshold = 1000001
max_scan_size = "2GiB"
internal_connect = ["192.0.2.0/24", "127.*", "*.lan.example", "2001:db8::/32"]
internal_domains = ["Example.org.", "*.example.org"]
ban_time = "1d12h"
check_user = ["file:example.org", "bob@example.org"]

[srs]
secret = ["new", "old"]
fwdomain = "srs.example.org"
socketmap = "unix:/run/maxwell/srs.sock"

[greylist]
preset = "kamaelia"
delay = "10m"
whitelisted_triples = [["192.0.2", "<>", "Bob@Example.org"], ["198.51.100.7", "a \"quoted\"\\name@x.org", "c@d.org"]]
whitelisted_nonstandard_triples = [["relay.example", "198.51.100", "bob@example.org"]]

[store]
driver = "postgres"
dsn = "postgres://maxwell:pw@db.example.org:5433/maxwell?sslmode=verify-full&sslpassword=x"

[wiretap]
smart_alias = [["@example.com", "info@example.org", "sales@example.org", "boss@example.org"]]

[dnsbl]
[[dnsbl.lists]]
zone = "zen.spamhaus.org"
type = "ip"
weight = 0.5
codes = ["127.0.0.2", "127.0.0.4/30"]
txt = false
[[dnsbl.lists]]
zone = "dbl.example.net"
type = "domain"
check = ["helo"]

[reputation]
enabled = true
[[reputation.peers]]
name = "friend"
url = "https://user:pw@peer.example.net/gossip"
secret = "0123456789abcdef0123456789"
weight = 0.25

[dkim]
keys = [{domain = "example.org", selector = "m2026", privkey = "/etc/maxwell/dkim/example.org.key"}]

[dmarc]
trusted_forwarders = ["192.0.2.1"]
`
	hidden := func(c *Config) { // the markers WriteRedacted writes in full's place
		c.SRS.Secret = Secrets{Redacted, Redacted}
		c.Store.DSN = "postgres://maxwell:" + Redacted + "@db.example.org:5433/maxwell?sslmode=verify-full&sslpassword=" + Redacted
		c.Reputation.Peers[0].Secret = Redacted
		c.Reputation.Peers[0].URL = "https://user:" + Redacted + "@peer.example.net/gossip"
	}
	tests := []struct {
		name   string
		src    string
		hidden func(*Config)
	}{
		{"defaults", "", nil},
		{"example", string(example), nil},
		{"example uncommented", uncomment(string(example)), nil},
		{"full", full, hidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := Parse(tt.name, []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := want.WriteRedacted(&b); err != nil {
				t.Fatal(err)
			}
			got, err := Parse("written", b.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			if tt.hidden != nil {
				tt.hidden(want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back:\n%+v\nwant\n%+v\nfrom\n%s", got, want, b.String())
			}
		})
	}
}

// A connection string's passwords are hidden and the rest kept, as
// pgx reads it; what cannot be read is hidden whole.
func TestHidePasswords(t *testing.T) {
	tests := []struct {
		in, want string
		// pgx reads the string written as the string given, but for
		// the passwords.
		samePgx bool
	}{
		{"", "", false},
		{"postgres://maxwell@db/maxwell", "postgres://maxwell@db/maxwell", true},
		{"postgres://maxwell:s3cret@db:5433/maxwell", "postgres://maxwell:(redacted)@db:5433/maxwell", true},
		{"postgresql://maxwell:p%40ss@db1,db2:5433/maxwell?sslmode=require", "postgresql://maxwell:(redacted)@db1,db2:5433/maxwell?sslmode=require", true},
		// libpq's password is "a", Go's "a@b": both hidden (and libpq's
		// host, "b@db", in part).
		{"postgres://maxwell:a@b@db/maxwell", "postgres://maxwell:(redacted)@db/maxwell", false},
		{"postgres://db/maxwell?user=maxwell&password=s3cret&sslpassword=k3y", "postgres://db/maxwell?user=maxwell&password=(redacted)&sslpassword=(redacted)", true},
		{"postgres://db/maxwell?pass%77ord=s3cret", "postgres://db/maxwell?pass%77ord=(redacted)", true},
		{"postgres://db/maxwell?pass%zzord=s3cret", Redacted, false},
		{"postgres://maxwell?password=s3cret@db/maxwell", Redacted, false},
		{"host=db user=maxwell password=s3cret dbname=maxwell", "host=db user=maxwell password=(redacted) dbname=maxwell", true},
		{"host=db password = 's3 cr\\'et' dbname=maxwell", "host=db password = (redacted) dbname=maxwell", true},
		{"password=s3\\ cret host=db", "password=(redacted) host=db", true},
		{"host=db password=", "host=db password=", true},
		{"host=db sslpassword='k3y'", "host=db sslpassword=(redacted)", true},
		{"host=db password='s3cret", Redacted, false},
		{"host=db s3cret", Redacted, false},
		{"https://user:s3cret@peer.example.net/gossip", "https://user:(redacted)@peer.example.net/gossip", false},
		{"https://peer.example.net/gossip", "https://peer.example.net/gossip", false},
	}
	for _, tt := range tests {
		got := hidePasswords(tt.in)
		if got != tt.want {
			t.Errorf("hidePasswords(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !tt.samePgx {
			continue
		}
		// pgx reads the same connection, with the marker for its passwords.
		orig, err := pgconn.ParseConfig(tt.in)
		if err != nil {
			t.Errorf("pgx cannot read %q: %v", tt.in, err)
			continue
		}
		red, err := pgconn.ParseConfig(got)
		if err != nil {
			t.Errorf("pgx cannot read %q: %v", got, err)
			continue
		}
		if orig.Password != "" && red.Password != Redacted {
			t.Errorf("%q: pgx reads the password %q", got, red.Password)
		}
		if fmt.Sprint(red.Host, red.Port, red.User, red.Database) != fmt.Sprint(orig.Host, orig.Port, orig.User, orig.Database) {
			t.Errorf("%q: pgx reads %v %v %v %v, want %v %v %v %v", got, red.Host, red.Port, red.User, red.Database, orig.Host, orig.Port, orig.User, orig.Database)
		}
	}
}
