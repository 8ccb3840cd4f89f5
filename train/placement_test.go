package train

import (
	"fmt"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/placement"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// presetOnGPU loads an embedded preset with its graphs built for GPU:0.
func presetOnGPU(t *testing.T, preset string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(configs.LoadOptions{Preset: preset, Sets: []string{"runtime.devices=[/device:GPU:0]"}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTrainingGraphHasGPUKernels builds the graph `simsiam train` runs
// (step with augmentation, kNN monitor, summaries, saver) for every preset
// placed on GPU:0 and checks it against the CUDA build's kernel registry:
// every node meant for the GPU has a kernel there for its types, and only
// I/O sits on the CPU.
func TestTrainingGraphHasGPUKernels(t *testing.T) {
	for _, preset := range configs.Presets() {
		t.Run(preset, func(t *testing.T) {
			cfg := presetOnGPU(t, preset)
			p, enc, _, err := BuildRunGraph(cfg, 10, 100, testMonitor())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Train.KNNEvery > 0 && enc == nil {
				t.Fatal("no kNN monitor built")
			}
			r, err := placement.Check(p.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if msg := r.Problems(); msg != "" {
				t.Fatalf("%d of %d nodes are not where they should be on a GPU:\n%s", len(r.Missing)+len(r.HostNotIO), r.Nodes, msg)
			}
			for _, n := range mustNodes(t, p) {
				if n.Op == "VarHandleOp" && n.Device != "/device:GPU:0" {
					t.Errorf("variable %s is built for %q, not the step's device", n.Name, n.Device)
				}
				if n.Op == "SaveV2" && n.Device != "/device:CPU:0" {
					t.Errorf("%s is built for %q, want the host", n.Name, n.Device)
				}
			}
		})
	}
}

func mustNodes(t *testing.T, p *Pipeline) []tfgraph.Node {
	t.Helper()
	ns, err := p.Graph.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestStepMovesOnlyTheBatchToTheGPU: one training step of the STL-10
// preset on a GPU takes in the uint8 batch and the augmentation seed and
// nothing else from the host; crop, jitter, grey, blur and flip run on
// the GPU.
func TestStepMovesOnlyTheBatchToTheGPU(t *testing.T) {
	cfg := presetOnGPU(t, "stl10_resnet18")
	p, _, _, err := BuildRunGraph(cfg, 10, 100, testMonitor())
	if err != nil {
		t.Fatal(err)
	}
	roots := []string{p.Train.Name(), p.Loss.Op.Name(), p.ZStd.Op.Name(), p.LR.Op.Name()}
	r, err := placement.Check(p.Graph, roots...)
	if err != nil {
		t.Fatal(err)
	}
	if msg := r.Problems(); msg != "" {
		t.Fatalf("the step is not all on the GPU:\n%s", msg)
	}
	batch := int64(cfg.Optim.BatchSize)
	size := int64(cfg.Data.ImageSize)
	want := batch*size*size*int64(cfg.Data.Channels) + 2*8 // uint8 images + int64[2] seed
	var feeds []string
	for _, e := range r.Crossings {
		if e.ToGPU {
			feeds = append(feeds, fmt.Sprintf("%s -> %s %v %v", e.From, e.To, e.DType, e.Dims))
		}
	}
	if len(feeds) != 2 {
		t.Errorf("host-to-GPU tensors per step: %v, want the images and seed placeholders", feeds)
	}
	// The images placeholder is [-1, -1, -1, 3]: at the preset's size the
	// fed batch is batch x 96 x 96 x 3 bytes.
	var got int64
	for _, e := range r.Crossings {
		if !e.ToGPU {
			continue
		}
		if e.To == p.Images.Op.Name() {
			got += batch * size * size * int64(cfg.Data.Channels)
		} else {
			got += e.Bytes(batch)
		}
	}
	if got != want {
		t.Errorf("host-to-GPU bytes per step %d, want %d", got, want)
	}
	t.Logf("STL-10 preset, batch %d: %d bytes host-to-GPU per step (%v), %d nodes in the step", batch, got, feeds, r.Nodes)
}
