package tfgraph

import (
	"os"
	"path/filepath"
	"testing"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKilledWriteKeepsPreviousCheckpoint lays out what a process killed
// while saving step 4 can leave behind — the temporary directory of the
// save, and (if it died between the two renames) a data file without its
// index — and checks that step 2 is still the newest checkpoint.
func TestKilledWriteKeepsPreviousCheckpoint(t *testing.T) {
	dir := t.TempDir()
	c := Checkpoints{Dir: dir, Keep: 3}
	touch(t, c.Prefix(2)+".index")
	touch(t, c.Prefix(2)+".data-00000-of-00001")
	if err := c.Commit(2); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(dir, ".tmp-ckpt-4-123", "ckpt-4.index"))
	touch(t, c.Prefix(4)+".data-00000-of-00001")
	latest, err := c.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if latest != c.Prefix(2) {
		t.Errorf("latest = %s, want %s", latest, c.Prefix(2))
	}
	state, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if string(state) != "model_checkpoint_path: \"ckpt-2\"\nall_model_checkpoint_paths: \"ckpt-2\"\n" {
		t.Errorf("state file:\n%s", state)
	}
}

func TestCommitKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	c := Checkpoints{Dir: dir, Keep: 2}
	for _, s := range []int64{1, 2, 3} {
		touch(t, c.Prefix(s)+".index")
		touch(t, c.Prefix(s)+".data-00000-of-00001")
		if err := c.Commit(s); err != nil {
			t.Fatal(err)
		}
	}
	steps, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0] != 2 || steps[1] != 3 {
		t.Errorf("kept %v, want [2 3]", steps)
	}
}
