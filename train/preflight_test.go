package train

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func TestCheckDisk(t *testing.T) {
	g := tfgraph.NewGraph()
	s := g.Root()
	vars := []*tfgraph.Variable{
		s.Child("encoder/conv1").Var("kernel", []int64{256, 1024}, tfgraph.Zeros(), 0),       // 1 MiB
		s.Child("optimizer/encoder").Var("momentum", []int64{256, 1024}, tfgraph.Zeros(), 0), // 1 MiB
		s.Var("global_step", nil, tfgraph.Zeros(), 0, tfgraph.WithDType(tfgraph.Int64)),
	}
	ckpt, sm := diskNeed(vars)
	if ckpt != 2<<20+8 || sm != 1<<20 {
		t.Fatalf("diskNeed = %d, %d", ckpt, sm)
	}
	need := int64(2*(2<<20+8) + 1<<20)
	need += need / 10
	export := int64(1<<20) + 1<<20/10
	for _, tc := range []struct {
		name       string
		exportOnly bool
		free       func(string) (int64, error)
		want       string
	}{
		{"enough", false, func(string) (int64, error) { return need, nil }, ""},
		{"one byte short", false, func(string) (int64, error) { return need - 1, nil }, "the run needs about 5.5 MiB (two checkpoints of 2.0 MiB and a SavedModel of 1.0 MiB)"},
		{"statfs fails", false, func(string) (int64, error) { return 0, errors.New("boom") }, "free space of output_dir"},
		{"export only, enough", true, func(string) (int64, error) { return export, nil }, ""},
		{"export only, one byte short", true, func(string) (int64, error) { return export - 1, nil }, "the run needs about 1.1 MiB (the SavedModel of 1.0 MiB: it has trained every step and only exports)"},
	} {
		err := checkDisk("/out", vars, tc.exportOnly, tc.free)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if free, err := freeBytes(t.TempDir()); err != nil || free <= 0 {
		t.Errorf("freeBytes of a temp dir: %d, %v", free, err)
	}
}

func TestPreflight(t *testing.T) {
	out := t.TempDir()
	dataDir := t.TempDir()
	cfg := testutil.RunConfig(dataDir, out)
	if _, err := preflight(cfg, []string{"/device:CPU:0"}, true); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("preflight left %v in output_dir", ents)
	}
	bad := *cfg
	bad.Data.Dir = filepath.Join(dataDir, "missing")
	bad.Train.KNNEvery, bad.Eval.Dir = 1, filepath.Join(dataDir, "nope")
	bad.Runtime.Devices = []string{"/device:GPU:7"}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	bad.OutputDir = ro
	_, err := preflight(&bad, nil, true)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	wants := []string{"data.dir " + bad.Data.Dir, "eval.dir " + bad.Eval.Dir, "runtime.devices"}
	if os.Geteuid() != 0 { // root writes into a 0555 folder
		wants = append([]string{"output_dir " + ro + " is not writable"}, wants...)
	}
	if len(lines) != len(wants) {
		t.Fatalf("%d lines, want %d:\n%v", len(lines), len(wants), err)
	}
	for i, w := range wants {
		if !strings.HasPrefix(lines[i], "preflight: ") || !strings.Contains(lines[i], w) {
			t.Errorf("line %d %q, want it to contain %q", i, lines[i], w)
		}
	}
}
