package policy_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/policy"
)

// The files the configuration names (the sender blacklist, the SPF
// access map, DSN templates) are read at start as the configuration
// file is: regular files of at most 8 MiB; and a bad line is shown
// quoted and cut, never raw (terminal escapes) nor whole.
func TestListFilesHostile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("# forty characters of comment, no more.\n", 9<<20/40)
	evil := "\x1b]0;owned\a\x1b[2J" + strings.Repeat("x", 1<<20)
	files := []struct {
		key    string
		set    func(cfg *config.Config, path string)
		escape string // a file with terminal escapes and a long line at line 2
		shown  string // how the error shows that line: as it is in the file, quoted and escaped
	}{
		{"whitelist.blacklist_file", func(cfg *config.Config, p string) { cfg.Whitelist.BlacklistFile = p }, "# fine\n" + evil + "\n",
			`:2: "\x1b]0;owned\a\x1b[2Jxxx`},
		{"spf.access_file", func(cfg *config.Config, p string) { cfg.SPF.AccessFile = p }, "# fine\nSPF-" + evil + ":example.com REJECT\n",
			`:2: "SPF-\x1b]0;owned\a\x1b[2Jxxx`},
		{"cbv.templates_dir", func(cfg *config.Config, p string) {
			d := p + ".d"
			os.Mkdir(d, 0o700)
			os.Symlink(p, filepath.Join(d, "strike3.txt"))
			cfg.CBV.TemplatesDir = d
		}, "Subject: fine\n{{" + evil + "}}\n", ":2: "},
	}
	for _, f := range files {
		for _, tc := range []struct {
			name, content, link string
			want                string
		}{
			{"link to dev zero", "", "/dev/zero", "is not a regular file (a character device)"},
			{"named pipe", "", fifo, "is not a regular file (a named pipe)"},
			{"over the limit", huge, "", "is larger than 8 MiB"},
			{"terminal escapes", "", "", f.shown},
		} {
			t.Run(f.key+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "file")
				switch {
				case tc.link != "":
					os.Symlink(tc.link, path)
				case tc.content == "":
					os.WriteFile(path, []byte(f.escape), 0o600)
				default:
					os.WriteFile(path, []byte(tc.content), 0o600)
				}
				cfg := config.Default()
				cfg.Milter.DataDir = t.TempDir()
				f.set(cfg, path)
				_, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(&strings.Builder{}), slog.New(slog.DiscardHandler))
				if err == nil {
					t.Fatal("accepted")
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, f.key+": ") || !strings.Contains(msg, tc.want) {
					t.Errorf("error %.300q, want %s: ... %s", msg, f.key, tc.want)
				}
				if len(msg) > 600 {
					t.Errorf("the error is %d bytes long: %.200q…", len(msg), msg)
				}
				if strings.ContainsAny(msg, "\x1b\a\n") {
					t.Errorf("the error carries raw control characters: %.200q", msg)
				}
			})
		}
	}
}
