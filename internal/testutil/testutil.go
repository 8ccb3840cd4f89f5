// Package testutil holds the fixtures the tests of several packages share:
// a session closed when the test ends, a tiny checkpoint writer, the tiny
// network's config, and small IDX data sets with a run config over them.
//
// It imports only tfgraph and configs, so the tests of every package above
// them (model, data, augment, train, eval, export, serve, cmd) may use it.
// Fixtures that need the training step are in testutil/trainfix.
package testutil

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Session starts a session on g with default options, closed when the test
// ends, and runs each of init in it.
func Session(t testing.TB, g *tfgraph.Graph, init ...*tfgraph.Operation) *tfgraph.Session {
	t.Helper()
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	for _, op := range init {
		if _, err := sess.Run(nil, nil, op); err != nil {
			t.Fatal(err)
		}
	}
	return sess
}

// SaveCheckpoint initialises every variable of g (an op named "init") in a
// new session, saves vars and extra with a saver named "save" as the
// checkpoint prefix, and returns the session, closed when the test ends,
// for a test that reads the saved values back.
func SaveCheckpoint(t testing.TB, g *tfgraph.Graph, vars []*tfgraph.Variable, prefix string, extra ...tfgraph.Entry) *tfgraph.Session {
	t.Helper()
	sv := tfgraph.NewSaver(g, "save", vars, extra...)
	sess := Session(t, g, g.InitOp("init"))
	if err := sv.Save(sess, prefix); err != nil {
		t.Fatal(err)
	}
	return sess
}

// TinyConfig is the tiny SimSiam of unit tests: a ResNet-18 with the CIFAR
// stem at width 4 on 16x16 RGB images, projector 16/16, predictor 8,
// batches of 8; every other field is configs.Default's.
func TinyConfig() *configs.Config {
	c := configs.Default()
	c.Data.ImageSize, c.Data.Channels = 16, 3
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 4
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 16, 16, 8
	c.Optim.BatchSize = 8
	return &c
}

// WriteIDX writes n grey h×w images (pix, row-major) and labels as the IDX
// pair split-images-idx3-ubyte and split-labels-idx1-ubyte in dir, named
// like MNIST's files. The label file's header counts len(labels), which a
// test may make differ from n.
func WriteIDX(t testing.TB, dir, split string, n, h, w int, pix, labels []byte) {
	t.Helper()
	header := func(magic uint32, dims ...int) []byte {
		b := binary.BigEndian.AppendUint32(nil, magic)
		for _, d := range dims {
			b = binary.BigEndian.AppendUint32(b, uint32(d))
		}
		return b
	}
	if err := os.WriteFile(filepath.Join(dir, split+"-images-idx3-ubyte"), append(header(0x803, n, h, w), pix...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, split+"-labels-idx1-ubyte"), append(header(0x801, len(labels)), labels...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteRandomIDX writes n random grey h×w images (a fixed PCG stream) with
// labels i mod 10 as the IDX training split in dir.
func WriteRandomIDX(t testing.TB, dir string, n, h, w int) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 10)
	}
	WriteIDX(t, dir, "train", n, h, w, pix, labels)
}

// RunConfig is a tiny training run over the IDX training split in dataDir
// (as WriteRandomIDX writes it) into out: the tiny network on 16x16 grey
// crops without colour augmentation, batches of 16 for 3 epochs, a log line
// every step and a checkpoint every 2, keeping 2.
func RunConfig(dataDir, out string) *configs.Config {
	c := TinyConfig()
	c.OutputDir = out
	c.Data.Format, c.Data.Dir, c.Data.Split = "idx", dataDir, "train"
	c.Data.Channels = 1
	c.Data.Mean, c.Data.Std = []float64{0.5}, []float64{0.25}
	c.Augment.Saturation, c.Augment.Hue, c.Augment.GrayscaleProb, c.Augment.BlurProb = 0, 0, 0, 0
	c.Optim.BatchSize, c.Optim.Epochs, c.Optim.BaseLR = 16, 3, 0.5
	c.Train.LogEvery, c.Train.CheckpointEvery, c.Train.KeepCheckpoints = 1, 2, 2
	return c
}
