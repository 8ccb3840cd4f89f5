package tfgraph

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// verifyTensors are the tensors of the checkpoint the verification tests
// corrupt: floats, an int64 scalar, a string scalar (a record) and a
// string vector (several lengths before the bytes).
func verifyTensors(t *testing.T) map[string]*Tensor {
	t.Helper()
	kernel := make([]float32, 3*3*3*16)
	for i := range kernel {
		kernel[i] = float32(i) / 7
	}
	k, err := NewTensor(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Reshape([]int64{3, 3, 3, 16}); err != nil {
		t.Fatal(err)
	}
	step, _ := NewTensor(int64(12))
	rec, _ := NewTensor(`{"model.arch":"resnet18","model.width":4}`)
	names, _ := NewTensor([]string{"alpha", "", "a longer name of some bytes"})
	return map[string]*Tensor{"encoder/conv1/kernel": k, "global_step": step, "simsiam/model_config": rec, "names": names}
}

// copyCheckpoint copies the files of the checkpoint src to the prefix dst.
func copyCheckpoint(t *testing.T, src, dst string) {
	t.Helper()
	for _, suf := range []string{".index", ".data-00000-of-00001"} {
		b, err := os.ReadFile(src + suf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suf, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// editFile rewrites path as edit returns it.
func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ckpt-1")
	if err := WriteTensors(src, verifyTensors(t)); err != nil {
		t.Fatal(err)
	}
	_, _, entries, err := readIndexEntries(src, "encoder/conv1/kernel", "simsiam/model_config", "names")
	if err != nil {
		t.Fatal(err)
	}
	at := func(key string, delta int64) int64 { return entries[key].GetOffset() + delta }
	flip := func(i int64) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0x10; return b }
	}
	for _, tc := range []struct {
		name   string
		suffix string              // the file edited
		edit   func([]byte) []byte // nil: the file is removed
		tensor string              // want a *CorruptCheckpointError for this tensor ("" the index)
		reason string              // its reason contains this
	}{
		{"intact", "", nil, "", ""},
		{"flipped float byte", ".data-00000-of-00001", flip(at("encoder/conv1/kernel", 100)), "encoder/conv1/kernel", "crc32c mismatch"},
		{"flipped string byte", ".data-00000-of-00001", flip(at("simsiam/model_config", 8)), "simsiam/model_config", "crc32c mismatch"},
		{"flipped string length", ".data-00000-of-00001", flip(at("names", 0)), "names", "lengths fail their checksum"},
		{"truncated data", ".data-00000-of-00001", func(b []byte) []byte { return b[:len(b)/2] }, "", "truncated file"},
		{"empty data", ".data-00000-of-00001", func(b []byte) []byte { return nil }, "", "lie past the end of ckpt-1.data-00000-of-00001"},
		{"missing data", ".data-00000-of-00001", nil, "", "ckpt-1.data-00000-of-00001 is missing"},
		{"truncated index", ".index", func(b []byte) []byte { return b[:len(b)-10] }, "", "ckpt-1.index: not a valid TensorFlow checkpoint index"},
		{"garbled index", ".index", flip(20), "", "checksum"},
		{"missing index", ".index", nil, "", "ckpt-1.index is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "ckpt-1")
			copyCheckpoint(t, src, prefix)
			if tc.suffix != "" {
				if tc.edit == nil {
					if err := os.Remove(prefix + tc.suffix); err != nil {
						t.Fatal(err)
					}
				} else {
					editFile(t, prefix+tc.suffix, tc.edit)
				}
			}
			err := VerifyCheckpoint(prefix)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("intact checkpoint: %v", err)
				}
				return
			}
			var ce *CorruptCheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CorruptCheckpointError", err)
			}
			if ce.Prefix != prefix || !strings.Contains(ce.Detail(), tc.reason) || (tc.tensor != "" && ce.Tensor != tc.tensor) {
				t.Errorf("got prefix %s tensor %q detail %q, want %s, tensor %q, a reason with %q", ce.Prefix, ce.Tensor, ce.Detail(), prefix, tc.tensor, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "checkpoint "+prefix+": ") {
				t.Errorf("error %q does not start with the checkpoint", err)
			}
		})
	}
}

// TestVerifyAgreesWithRestore: what VerifyCheckpoint refuses, TensorFlow
// refuses to restore, and what it passes restores.
func TestVerifyAgreesWithRestore(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "ckpt-1"), filepath.Join(dir, "ckpt-2")
	g := NewGraph()
	v := g.Root().Child("encoder/conv1").Var("kernel", []int64{4, 8}, Fill(1), 0)
	sv := NewSaver(g, "save", []*Variable{v})
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	if err := sv.Save(sess, good); err != nil {
		t.Fatal(err)
	}
	copyCheckpoint(t, good, bad)
	editFile(t, bad+".data-00000-of-00001", func(b []byte) []byte { b[5] ^= 1; return b })
	if err := VerifyCheckpoint(good); err != nil {
		t.Errorf("verify the saved checkpoint: %v", err)
	}
	if err := sv.RestoreFrom(sess, good); err != nil {
		t.Errorf("restore the saved checkpoint: %v", err)
	}
	if err := VerifyCheckpoint(bad); err == nil || !strings.Contains(err.Error(), "tensor encoder/conv1/kernel: crc32c mismatch") {
		t.Errorf("verify the flipped checkpoint: %v", err)
	}
	if err := sv.RestoreFrom(sess, bad); err == nil {
		t.Error("TensorFlow restored the flipped checkpoint")
	}
}

// TestVerifyCheckpointStreams: verifying a 32 MiB tensor allocates a small
// fraction of it (the 1 MiB buffer and the index), not the shard.
func TestVerifyCheckpointStreams(t *testing.T) {
	big := make([]float32, 8<<20)
	for i := range big {
		big[i] = float32(i % 1000)
	}
	bt, err := NewTensor(big)
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	if err := WriteTensors(prefix, map[string]*Tensor{"encoder/big": bt}); err != nil {
		t.Fatal(err)
	}
	big, bt = nil, nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	if err := VerifyCheckpoint(prefix); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("verified a 32 MiB checkpoint in %v, allocating %d bytes", took, got)
	if got > 4<<20 {
		t.Errorf("verifying a 32 MiB checkpoint allocated %d bytes, want at most 4 MiB", got)
	}
	editFile(t, prefix+".data-00000-of-00001", func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	if err := VerifyCheckpoint(prefix); err == nil || !strings.Contains(err.Error(), "crc32c mismatch") {
		t.Errorf("a flipped last byte: %v", err)
	}
}
