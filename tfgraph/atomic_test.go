package tfgraph

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	removed, restored, err := RemoveSavedModelTemps(sm + "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] != sm+".tmp-123" || removed[1] != sm+".old-9" || restored != "" {
		t.Errorf("removed %q, restored %q", removed, restored)
	}
	for _, keep := range []string{sm, sm + "x.tmp-1", filepath.Join(dir, "other.tmp-1")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}

// TestRemoveSavedModelTempsRestores: with dir missing (a kill between
// replaceDir's two renames), the newest moved-aside model that holds a
// saved_model.pb goes back to dir; the rest is removed.
func TestRemoveSavedModelTempsRestores(t *testing.T) {
	dir := t.TempDir()
	sm := filepath.Join(dir, "saved_model")
	write := func(p, s string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(sm+".old-1", SavedModelFile), "older", time.Hour)
	write(filepath.Join(sm+".old-2", SavedModelFile), "previous", time.Minute)
	write(filepath.Join(sm+".old-3", "variables", "x"), "no model file", 0)
	write(filepath.Join(sm+".tmp-4", SavedModelFile), "new, maybe half-written", 0)
	removed, restored, err := RemoveSavedModelTemps(sm)
	if err != nil {
		t.Fatal(err)
	}
	if restored != sm+".old-2" {
		t.Errorf("restored %q, want %s", restored, sm+".old-2")
	}
	if b, err := os.ReadFile(filepath.Join(sm, SavedModelFile)); err != nil || string(b) != "previous" {
		t.Errorf("%s holds %q (%v), want the previous model", sm, b, err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %q, want the other three", removed)
	}
	if left, _ := filepath.Glob(sm + ".*"); len(left) != 0 {
		t.Errorf("left: %v", left)
	}
	// Nothing to restore: the temporary folders go, dir stays missing.
	write(filepath.Join(sm+".tmp-5", SavedModelFile), "half", 0)
	if err := os.RemoveAll(sm); err != nil {
		t.Fatal(err)
	}
	if removed, restored, err := RemoveSavedModelTemps(sm); err != nil || restored != "" || len(removed) != 1 {
		t.Errorf("removed %q, restored %q, err %v", removed, restored, err)
	}
	if _, err := os.Stat(sm); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want it missing", sm, err)
	}
}
