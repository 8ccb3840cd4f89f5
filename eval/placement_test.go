package eval

import (
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/placement"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// checkOnGPU fails the test for every node of g that a GPU has no kernel
// for, or that sits on the CPU without being I/O.
func checkOnGPU(t *testing.T, g *tfgraph.Graph) {
	t.Helper()
	r, err := placement.Check(g)
	if err != nil {
		t.Fatal(err)
	}
	if msg := r.Problems(); msg != "" {
		t.Fatalf("%d nodes of %d are not where they should be on a GPU:\n%s", len(r.Missing)+len(r.HostNotIO), r.Nodes, msg)
	}
}

// TestEvalGraphsHaveGPUKernels builds every graph kNN and linear
// evaluation run (the encoder, the kNN vote, the linear classifier on
// cached features, with augmentation and on raw pixels) for GPU:0 and
// checks them against the CUDA build's kernel registry.
func TestEvalGraphsHaveGPUKernels(t *testing.T) {
	for _, preset := range configs.Presets() {
		cfg, err := configs.Load(configs.LoadOptions{Preset: preset, Sets: []string{"runtime.devices=[/device:GPU:0]"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(preset+"/encoder", func(t *testing.T) {
			g := tfgraph.NewGraph()
			g.SetDevice(session.Device(cfg))
			if _, err := AddEncoder(g, cfg); err != nil {
				t.Fatal(err)
			}
			g.InitOp("init")
			checkOnGPU(t, g)
		})
		for _, tc := range []struct {
			name string
			mode string
			dim  int
		}{{"linear cached", ModeCached, 0}, {"linear augment", ModeAugment, 0}, {"linear pixels", ModeCached, 784}} {
			t.Run(preset+"/"+tc.name, func(t *testing.T) {
				lg, err := buildLinear(cfg, 10, tc.mode, tc.dim)
				if err != nil {
					t.Fatal(err)
				}
				checkOnGPU(t, lg.g)
			})
		}
	}
	t.Run("knn", func(t *testing.T) {
		kg, err := buildKNN(make([]int32, 300), 64, 10, []int{200, 20}, 5, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		checkOnGPU(t, kg.g)
	})
}
