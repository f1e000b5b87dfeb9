package watch

import (
	"os"
	"path/filepath"
	"testing"
)

// The state file is replaced through a file of a name nobody can guess:
// a link planted at the old fixed name (watch.state.tmp) was followed,
// and its target truncated and overwritten.
func TestStateNotWrittenThroughPlantedLink(t *testing.T) {
	f := newFixture(t, postfixLog(t))
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	state := f.cfg.WatchStatePath()
	if err := os.Symlink(victim, state+".tmp"); err != nil {
		t.Fatal(err)
	}
	f.run()
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if fi, err := os.Lstat(state); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Errorf("state file: %v, %v; want a regular file, mode 0640", fi, err)
	}
}
