package tfgraph

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestNewestIntact lays out a folder whose newest checkpoints are a
// flipped byte, a truncated data file and an index without its data file,
// and checks that the newest intact one is chosen, every newer one named
// with its reason and nothing changed on disk.
func TestNewestIntact(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := WriteTensors(src, verifyTensors(t)); err != nil {
		t.Fatal(err)
	}
	c := Checkpoints{Dir: t.TempDir(), Keep: 5}
	if p, _, skipped, err := c.NewestIntact(); p != "" || skipped != nil || err != nil {
		t.Errorf("empty folder: %q %v %v", p, skipped, err)
	}
	for _, s := range []int64{3, 6, 9, 12} {
		copyCheckpoint(t, src, c.Prefix(s))
	}
	_, _, entries, err := readIndexEntries(src, "encoder/conv1/kernel")
	if err != nil {
		t.Fatal(err)
	}
	off := entries["encoder/conv1/kernel"].GetOffset()
	editFile(t, c.Prefix(12)+".data-00000-of-00001", func(b []byte) []byte { b[off+3] ^= 0x80; return b })
	editFile(t, c.Prefix(9)+".data-00000-of-00001", func(b []byte) []byte { return b[:len(b)-1] })
	if err := os.Remove(c.Prefix(6) + ".data-00000-of-00001"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(c.Dir)
	p, step, skipped, err := c.NewestIntact()
	if err != nil || p != c.Prefix(3) || step != 3 {
		t.Fatalf("got %q step %d err %v, want %s", p, step, err, c.Prefix(3))
	}
	want := []struct{ prefix, reason string }{
		{c.Prefix(12), "tensor encoder/conv1/kernel: crc32c mismatch"},
		{c.Prefix(9), "truncated file"},
		{c.Prefix(6), "ckpt-6.data-00000-of-00001 is missing"},
	}
	if len(skipped) != len(want) {
		t.Fatalf("skipped %v, want %d", skipped, len(want))
	}
	for i, w := range want {
		if skipped[i].Prefix != w.prefix || !strings.Contains(skipped[i].Reason(), w.reason) {
			t.Errorf("skipped[%d] = %s: %q, want %s: %q", i, skipped[i].Prefix, skipped[i].Reason(), w.prefix, w.reason)
		}
	}
	if after, _ := os.ReadDir(c.Dir); len(after) != len(before) {
		t.Errorf("the folder changed: %d entries, then %d", len(before), len(after))
	}
	// None intact: an error naming every one.
	editFile(t, c.Prefix(3)+".index", func(b []byte) []byte { return b[:len(b)/2] })
	p, _, skipped, err = c.NewestIntact()
	var ne *NoIntactCheckpointError
	if p != "" || !errors.As(err, &ne) || len(ne.Skipped) != 4 || len(skipped) != 4 {
		t.Fatalf("nothing intact: %q, %v", p, err)
	}
	for _, name := range []string{"none of the 4 checkpoints in " + c.Dir + " is intact", "ckpt-12: tensor", "ckpt-3: ckpt-3.index: not a valid"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error lacks %q:\n%v", name, err)
		}
	}
}

// TestCommitDropsSupersededCheckpoints: a run resumed from ckpt-9
// because ckpt-12 is corrupt commits ckpt-10. The corrupt ckpt-12 was
// there until then; the new ckpt-10 supersedes it, and it goes as
// rotation drops the oldest, whatever Keep is; the state file names
// ckpt-10 as the newest.
func TestCommitDropsSupersededCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		keep int
		want string
	}{{1, "[10]"}, {3, "[9 10]"}} {
		c := Checkpoints{Dir: t.TempDir(), Keep: tc.keep}
		for _, s := range []int64{9, 12, 10} {
			touch(t, c.Prefix(s)+".index")
			touch(t, c.Prefix(s)+".data-00000-of-00001")
		}
		if err := c.Commit(10); err != nil {
			t.Fatal(err)
		}
		steps, err := c.List()
		if err != nil || fmt.Sprint(steps) != tc.want {
			t.Errorf("keep %d: kept %v (%v), want %s", tc.keep, steps, err, tc.want)
		}
		if _, err := os.Stat(c.Prefix(12) + ".index"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("keep %d: ckpt-12.index is still there (%v)", tc.keep, err)
		}
		state, _ := os.ReadFile(filepath.Join(c.Dir, "checkpoint"))
		if !strings.HasPrefix(string(state), "model_checkpoint_path: \"ckpt-10\"\n") || strings.Contains(string(state), "ckpt-12") {
			t.Errorf("keep %d: state file:\n%s", tc.keep, state)
		}
	}
}
