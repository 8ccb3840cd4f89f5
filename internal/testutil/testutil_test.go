package testutil_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestSaveCheckpoint: the checkpoint holds the saved variables' initial
// values and the extra entries, a fresh graph restores them, and the
// returned session still reads the saved values.
func TestSaveCheckpoint(t *testing.T) {
	g := tfgraph.NewGraph()
	v := g.Root().Child("encoder").Var("kernel", []int64{2}, tfgraph.Fill(3), 0)
	g.Root().Var("unsaved", []int64{1}, tfgraph.Zeros(), 0)
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	sess := testutil.SaveCheckpoint(t, g, []*tfgraph.Variable{v}, prefix,
		tfgraph.Entry{Key: "meta", Value: g.Root().Child("meta").Const("value", "hello")})
	index, err := tfgraph.ReadCheckpointIndex(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := index["encoder/kernel"]; !ok || len(index) != 2 {
		t.Errorf("checkpoint keys %v, want encoder/kernel and meta", index)
	}
	if s, found, err := tfgraph.ReadCheckpointString(prefix, "meta"); err != nil || !found || s != "hello" {
		t.Errorf("meta = %q found %v err %v", s, found, err)
	}
	out, err := sess.Run(nil, []tfgraph.Output{v.Read()})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Value().([]float32); !reflect.DeepEqual(got, []float32{3, 3}) {
		t.Errorf("session reads %v, want [3 3]", got)
	}

	g2 := tfgraph.NewGraph()
	v2 := g2.Root().Child("encoder").Var("kernel", []int64{2}, tfgraph.Zeros(), 0)
	sv := tfgraph.NewSaver(g2, "restore", []*tfgraph.Variable{v2})
	s2 := testutil.Session(t, g2, g2.InitOp("init"))
	if err := sv.RestoreFrom(s2, prefix); err != nil {
		t.Fatal(err)
	}
	out, err = s2.Run(nil, []tfgraph.Output{v2.Read()})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Value().([]float32); !reflect.DeepEqual(got, []float32{3, 3}) {
		t.Errorf("restored %v, want [3 3]", got)
	}
}

// TestWriteIDX: the data package reads back the written pixels and labels,
// and a label file longer than the image file is refused.
func TestWriteIDX(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	testutil.WriteIDX(t, dir, "t10k", 2, 2, 3, pix, []byte{4, 1})
	ds, err := data.ReadIDX(filepath.Join(dir, "t10k-images-idx3-ubyte"), filepath.Join(dir, "t10k-labels-idx1-ubyte"))
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 2 || ds.H != 2 || ds.W != 3 || ds.C != 1 || !bytes.Equal(ds.Pix, pix) || !reflect.DeepEqual(ds.Labels, []int32{4, 1}) {
		t.Errorf("read back %d×%d×%d×%d %v labels %v", ds.N, ds.H, ds.W, ds.C, ds.Pix, ds.Labels)
	}
	bad := t.TempDir()
	testutil.WriteIDX(t, bad, "train", 2, 2, 3, pix, []byte{4, 1, 0})
	if _, err := data.ReadIDXDir(bad, true); err == nil {
		t.Error("3 labels for 2 images were accepted")
	}
}

// TestRunConfig: the random set and the run config over it agree (a valid
// config, 4 steps per epoch over 64 images of 20x20) and the set is the
// same on every call.
func TestRunConfig(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	testutil.WriteRandomIDX(t, a, 64, 20, 20)
	testutil.WriteRandomIDX(t, b, 64, 20, 20)
	da, err := data.ReadIDXDir(a, true)
	if err != nil {
		t.Fatal(err)
	}
	db, err := data.ReadIDXDir(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if da.N != 64 || da.H != 20 || !bytes.Equal(da.Pix, db.Pix) || da.Labels[13] != 3 {
		t.Errorf("random sets: %d images %dx%d, equal %v, label 13 = %d", da.N, da.H, da.W, bytes.Equal(da.Pix, db.Pix), da.Labels[13])
	}
	cfg := testutil.RunConfig(a, t.TempDir())
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	if cfg.Data.Channels != 1 || cfg.Optim.BatchSize != 16 || cfg.Model.Width != 4 {
		t.Errorf("run config %+v", cfg)
	}
	tiny := testutil.TinyConfig()
	if err := tiny.Validate(false); err != nil {
		t.Fatal(err)
	}
	if d := configs.Default(); tiny.Model.Width == d.Model.Width || tiny.Data.ImageSize == d.Data.ImageSize {
		t.Errorf("TinyConfig keeps the default network: %+v", tiny.Model)
	}
}
