package tfgraph

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state")
	if err := WriteFileAtomic(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Fatalf("read %q, %v", b, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
	// A failing writer leaves the old content and no temporary file.
	boom := errors.New("boom")
	err = WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("partial")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("after a failed write the file holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sub", ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// WriteAtomic does not create directories.
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), func(io.Writer) error { return nil }); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestRemoveSavedModelTemps(t *testing.T) {
	dir := t.TempDir()
	sm := filepath.Join(dir, "saved_model")
	for _, p := range []string{sm + ".tmp-123/variables", sm + ".old-9", sm, sm + "x.tmp-1", filepath.Join(dir, "other.tmp-1")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveSavedModelTemps(sm + "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] != sm+".tmp-123" || removed[1] != sm+".old-9" {
		t.Errorf("removed %q", removed)
	}
	for _, keep := range []string{sm, sm + "x.tmp-1", filepath.Join(dir, "other.tmp-1")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}
