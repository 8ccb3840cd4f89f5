package doctor

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/internal/placement"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// TestRunOnThisMachine runs every check on the machine at hand (the CPU of
// CI): each passes, in order, one line each, and the lines say what was
// measured.
func TestRunOnThisMachine(t *testing.T) {
	var out bytes.Buffer
	checks, failed := Run(context.Background(), Options{Dir: t.TempDir(), Steps: 2, Timeout: 20 * time.Second}, &out)
	t.Logf("\n%s", out.String())
	if failed {
		t.Fatalf("a check failed on this machine:\n%s", out.String())
	}
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	for _, want := range []string{"libtensorflow", "devices", "train /device:CPU:0", "precision", "all-reduce", "memory", "disk"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q check among %v", want, names)
		}
	}
	if got := strings.Count(out.String(), "\n"); got != len(checks) {
		t.Errorf("%d lines for %d checks", got, len(checks))
	}
	for _, want := range []string{"TensorFlow 2.18", "all ", "nodes of the step ran on CPU", "averaged [1 10] and [2 20] to [1.5 15]", "bf16 measured"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRunStopsOnCancel: a cancelled context ends the run with a failed
// line saying so, after the checks that do not wait.
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, failed := Run(ctx, Options{Dir: t.TempDir()}, &out)
	if !failed || !strings.Contains(out.String(), "FAIL doctor:") || strings.Contains(out.String(), "all-reduce") {
		t.Errorf("cancelled run: failed %v\n%s", failed, out.String())
	}
}

// TestMisplacedOnAGPU checks the GPU branch without a GPU, with the kernel
// table of the CUDA build (internal/placement): the tiny training step
// built for GPU:0 and placed as TensorFlow's soft placement would (a node
// without a GPU kernel for its types moves to the CPU) has exactly the
// nodes the table misses flagged (none today); a convolution that ran on
// the CPU is flagged by name; a run entirely on the CPU flags every
// compute node but not the I/O built for the host.
func TestMisplacedOnAGPU(t *testing.T) {
	cfg, err := tinyConfig("/device:GPU:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := train.BuildPipeline(cfg, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	built, err := p.Graph.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	table, err := placement.GPUKernels()
	if err != nil {
		t.Fatal(err)
	}
	placed, err := table.Place(built, "GPU")
	if err != nil {
		t.Fatal(err)
	}
	const job = "/job:localhost/replica:0/task:0"
	var ran []tfgraph.Node
	var missing []string
	for _, pl := range placed {
		n := pl.Node
		n.Device = job + n.Device
		if pl.Node.Device == "" {
			// Unpinned nodes (the gradients) go where TensorFlow's placer
			// puts them: the GPU, which has their kernels.
			n.Device = job + "/device:GPU:0"
		}
		if pl.Missing {
			n.Device = job + "/device:CPU:0"
			missing = append(missing, n.Name)
		}
		ran = append(ran, n)
	}
	if got := names(Misplaced(ran, built, "GPU")); !slices.Equal(got, missing) {
		t.Errorf("flagged %d nodes (%v), want the table's missing kernels %v", len(got), joinLimited(got, 5), missing)
	}
	conv := -1
	for i, n := range ran {
		if n.Op == "Conv2D" && conv < 0 {
			conv = i
		}
	}
	if conv < 0 {
		t.Fatal("no Conv2D in the step")
	}
	moved := slices.Clone(ran)
	moved[conv].Device = job + "/device:CPU:0"
	if got := names(Misplaced(moved, built, "GPU")); !slices.Contains(got, ran[conv].Name) || len(got) != len(missing)+1 {
		t.Errorf("a Conv2D on the CPU: flagged %d nodes (%s), want %s", len(got), joinLimited(got, 5), ran[conv].Name)
	}
	allCPU := slices.Clone(ran)
	io := 0
	for i := range allCPU {
		allCPU[i].Device = job + "/device:CPU:0"
		if strings.Contains(built[i].Device, "CPU") {
			io++
		}
	}
	got := Misplaced(allCPU, built, "GPU")
	if io == 0 || len(got) == 0 || len(got) >= len(allCPU)-io+1 {
		t.Errorf("all on the CPU: %d flagged of %d nodes (%d built for the host)", len(got), len(allCPU), io)
	}
	for _, n := range got {
		if n.Op == "SaveV2" || n.Op == "RestoreV2" {
			t.Errorf("%s (%s), built for the host, flagged", n.Name, n.Op)
		}
	}
}

func names(ns []tfgraph.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}
