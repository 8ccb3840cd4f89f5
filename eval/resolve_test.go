package eval

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestResolveCheckpointVerifies: a folder whose newest checkpoint has a
// flipped byte is refused, naming it and the newest intact one; the
// corrupt prefix given as such is refused with the tensor; the intact one
// resolves.
func TestResolveCheckpointVerifies(t *testing.T) {
	cfg := tinyConfig(1)
	run := t.TempDir()
	ck := tfgraph.Checkpoints{Dir: filepath.Join(run, "checkpoints")}
	saveTrainingLikeCheckpoint(t, cfg, ck.Prefix(3))
	for _, suf := range []string{".index", ".data-00000-of-00001"} {
		b, err := os.ReadFile(ck.Prefix(3) + suf)
		if err != nil {
			t.Fatal(err)
		}
		if suf != ".index" {
			b[len(b)/2] ^= 1
		}
		if err := os.WriteFile(ck.Prefix(6)+suf, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path, want string
		errs       []string
	}{
		{run, "", []string{"checkpoint " + run + ": the newest checkpoint " + ck.Prefix(6) + " is corrupt: tensor ", "crc32c mismatch", "the newest intact one is " + ck.Prefix(3)}},
		{ck.Dir, "", []string{"the newest checkpoint " + ck.Prefix(6) + " is corrupt"}},
		{ck.Prefix(6), "", []string{"checkpoint " + ck.Prefix(6) + ": tensor ", "crc32c mismatch"}},
		{ck.Prefix(3), ck.Prefix(3), nil},
	} {
		got, err := ResolveCheckpoint(tc.path)
		if tc.errs == nil {
			if err != nil || got != tc.want {
				t.Errorf("ResolveCheckpoint(%s) = %q, %v; want %s", tc.path, got, err, tc.want)
			}
			continue
		}
		for _, w := range tc.errs {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("ResolveCheckpoint(%s) = %q, %v; want an error with %q", tc.path, got, err, w)
			}
		}
	}
	// With ckpt-6 gone the folder resolves to ckpt-3; with ckpt-3 corrupt
	// too, the error names both.
	if err := os.Remove(ck.Prefix(6) + ".index"); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveCheckpoint(run); err != nil || got != ck.Prefix(3) {
		t.Errorf("after removing ckpt-6: %q, %v", got, err)
	}
	if err := os.Truncate(ck.Prefix(3)+".data-00000-of-00001", 10); err != nil {
		t.Fatal(err)
	}
	var none *tfgraph.NoIntactCheckpointError
	if _, err := ResolveCheckpoint(run); !errors.As(err, &none) || !strings.Contains(err.Error(), "ckpt-3: tensor ") {
		t.Errorf("nothing intact: %v", err)
	}
}
