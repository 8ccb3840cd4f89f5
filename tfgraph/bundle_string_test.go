package tfgraph

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// saveWithString writes a checkpoint of one variable plus the string
// constant value under key (no variable), as the training saver writes the
// model config.
func saveWithString(t *testing.T, key, value string) string {
	t.Helper()
	g := NewGraph()
	v := g.Root().Child("encoder/conv1").Var("kernel", []int64{2, 2}, Fill(1), 0)
	sv := NewSaver(g, "save", []*Variable{v}, Entry{Key: key, Value: g.Root().Child("meta").Const("value", value)})
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	if err := sv.Save(sess, prefix); err != nil {
		t.Fatal(err)
	}
	// The extra entry is not restored: restoring must still work.
	if err := sv.RestoreFrom(sess, prefix); err != nil {
		t.Fatal(err)
	}
	return prefix
}

func TestReadCheckpointString(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"json", `{"model.arch":"resnet18","model.width":4}`},
		{"empty", ""},
		{"long", strings.Repeat("x", 300)}, // a two-byte varint length
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := saveWithString(t, "simsiam/model_config", tc.value)
			got, found, err := ReadCheckpointString(prefix, "simsiam/model_config")
			if err != nil || !found || got != tc.value {
				t.Fatalf("got %q found %v err %v, want %q", got, found, err, tc.value)
			}
			specs, err := ReadCheckpointIndex(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if s := specs["simsiam/model_config"]; s.DType != String || len(s.Dims) != 0 {
				t.Errorf("index entry %v, want a string scalar", s)
			}
			if _, found, err := ReadCheckpointString(prefix, "simsiam/other"); found || err != nil {
				t.Errorf("absent key: found %v err %v", found, err)
			}
		})
	}
}

func TestReadCheckpointStringErrors(t *testing.T) {
	prefix := saveWithString(t, "k", "hello world")
	if _, _, err := ReadCheckpointString(prefix, "encoder/conv1/kernel"); err == nil || !strings.Contains(err.Error(), "not a string scalar") {
		t.Errorf("float entry: %v", err)
	}
	shard := prefix + ".data-00000-of-00001"
	b, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "hello")
	if i < 0 {
		t.Fatal("string bytes not in the shard")
	}
	b[i] ^= 1
	if err := os.WriteFile(shard, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadCheckpointString(prefix, "k"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped byte: %v", err)
	}
	if err := os.WriteFile(shard, b[:i], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadCheckpointString(prefix, "k"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated shard: %v", err)
	}
}
