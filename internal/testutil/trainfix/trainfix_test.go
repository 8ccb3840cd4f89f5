package trainfix_test

import (
	"path/filepath"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/internal/testutil/trainfix"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// TestCheckpoint: a checkpoint after one step records global step 1 and
// the same seeds give the same weights; the initial checkpoint records 0.
func TestCheckpoint(t *testing.T) {
	cfg := testutil.TinyConfig()
	cfg.Data.ImageSize, cfg.Optim.BatchSize = 8, 4
	dir := t.TempDir()
	kernel := map[string]float32{}
	for _, tc := range []struct {
		name  string
		steps int
		want  int64
	}{{"ckpt-0", 0, 0}, {"ckpt-1", 1, 1}, {"again-1", 1, 1}} {
		prefix := trainfix.Checkpoint(t, cfg, filepath.Join(dir, tc.name), tc.steps, 8, 9)
		st, sess := trainfix.Step(t, cfg, train.StepOptions{StepsPerEpoch: 1, TotalSteps: 1})
		if err := st.Saver.RestoreFrom(sess.Session, prefix); err != nil {
			t.Fatal(err)
		}
		out, err := sess.Run(nil, []tfgraph.Output{st.Graph.Variable("global_step").Read(), st.Graph.Variable("encoder/conv1/kernel").Read()})
		if err != nil {
			t.Fatal(err)
		}
		if got := out[0].Value().(int64); got != tc.want {
			t.Errorf("%s: global step %d, want %d", tc.name, got, tc.want)
		}
		kernel[tc.name] = out[1].Value().([][][][]float32)[0][0][0][0]
	}
	if kernel["ckpt-1"] != kernel["again-1"] || kernel["ckpt-1"] == kernel["ckpt-0"] {
		t.Errorf("first kernel weight: initial %v, after a step %v and %v", kernel["ckpt-0"], kernel["ckpt-1"], kernel["again-1"])
	}
	if err := trainfix.WriteCheckpoint(cfg, filepath.Join(dir, "missing", "\x00bad"), 0, 1, 2); err == nil {
		t.Error("saving to an impossible prefix succeeded")
	}
}
