package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/policy"
)

// A link planted where maxwell writes a message (the wiretap archive, the
// directory of saved originals) is not followed: the message is deferred
// (451, the sender retries, nothing is lost), the refusal is logged, and
// the link's target is left alone.
func TestPlantedLinksNotFollowed(t *testing.T) {
	t.Run("wiretap archive", func(t *testing.T) {
		env, archive := wiretapEnv(t, true)
		victim := filepath.Join(t.TempDir(), "victim")
		os.WriteFile(victim, []byte("precious\n"), 0o600)
		if err := os.Symlink(victim, archive); err != nil {
			t.Fatal(err)
		}
		out := env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.partner.example",
			Mail: policy.MailInfo{Sender: "x@other.example"}, Rcpts: []string{"bob@example.org"},
			Headers: []policy.Header{{Name: "Subject", Value: "hi"}}, Body: []byte("Hello\r\n")})
		if out.Final.Action != policy.Tempfail {
			t.Errorf("%v %q, want a tempfail", out.Final.Action, out.Final.Reply())
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Errorf("the link's target now holds %q", b)
		}
		if !strings.Contains(env.Diag.String(), "is a symbolic link (to "+victim+")") {
			t.Errorf("the refusal is not logged:\n%s", env.Diag)
		}
	})
	t.Run("saved originals", func(t *testing.T) {
		env, dir := newAttachEnv(t, "")
		elsewhere := t.TempDir()
		if err := os.Symlink(elsewhere, filepath.Join(dir, "save")); err != nil {
			t.Fatal(err)
		}
		out := env.Engine.Run(corpusTx(t, "198.51.100.7", "vbs.eml"))
		if out.Final.Action != policy.Tempfail {
			t.Errorf("%v %q, want a tempfail", out.Final.Action, out.Final.Reply())
		}
		if saved, _ := os.ReadDir(elsewhere); len(saved) != 0 {
			t.Errorf("the original was saved through the link: %v", saved)
		}
		if !strings.Contains(env.Diag.String(), "save is a symbolic link (to "+elsewhere+")") {
			t.Errorf("the refusal is not logged:\n%s", env.Diag)
		}
	})
}
