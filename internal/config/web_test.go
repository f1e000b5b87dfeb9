package config

import (
	"strings"
	"testing"
)

const testHash = "$2a$04$0123456789012345678901uQ4fY4Yl5mV8gk7o6X7rP8Tq6U5gJ1e"

func TestWebSection(t *testing.T) {
	user := "[[web.users]]\nname = \"admin\"\npassword_hash = \"" + testHash + "\"\n"
	tests := []struct {
		name, src, want string // want: "" for valid, else a substring of the error
		local, tls      bool
	}{
		{"off", "", "", false, false},
		{"loopback", "[web]\nlisten = \"127.0.0.1:8080\"\n" + user, "", true, false},
		{"unix", "[web]\nlisten = \"unix:/run/maxwell/web.sock\"\n" + user, "", true, false},
		{"relative unix", "[web]\nlisten = \"unix:web.sock\"\n" + user, "absolute path", true, false},
		{"not an address", "[web]\nlisten = \"localhost:8080\"\n" + user, "web.listen", false, false},
		{"no users", "[web]\nlisten = \"127.0.0.1:8080\"\n", "no user may log in", true, false},
		{"bad hash", "[web]\nlisten = \"127.0.0.1:8080\"\n[[web.users]]\nname = \"a\"\npassword_hash = \"secret\"\n", "not a bcrypt hash", true, false},
		{"twice", "[web]\nlisten = \"127.0.0.1:8080\"\n" + user + user, "listed twice", true, false},
		{"half TLS", "[web]\ncert_file = \"/x.pem\"\n", "both cert_file and key_file", false, false},
		{"remote TLS", "[web]\nlisten = \"192.0.2.1:443\"\ncert_file = \"/c\"\nkey_file = \"/k\"\n" + user, "", false, true},
		{"bad ttl", "[web]\nsession_ttl = \"0s\"\n", "web.session_ttl", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.toml", []byte(tt.src))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Web.Listen != "" && (cfg.Web.Local() != tt.local || cfg.Web.TLS() != tt.tls) {
				t.Errorf("Local %v TLS %v, want %v %v", cfg.Web.Local(), cfg.Web.TLS(), tt.local, tt.tls)
			}
			if len(cfg.Web.Warnings()) != 0 {
				t.Errorf("warnings: %v", cfg.Web.Warnings())
			}
		})
	}
	w := Web{Listen: "192.0.2.1:8080"}
	if len(w.Warnings()) != 1 {
		t.Error("no warning for plain HTTP on a public address")
	}
}
