package train

import (
	"fmt"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// runtimeOverhead is what a training process holds besides its graph's
// tensors and its data: libtensorflow's code and allocator pools, the Go
// runtime, the prefetched batches (measured: about 300 MiB for the demo
// preset's process before its first step).
const runtimeOverhead = 320 << 20

// stepMemory is an estimate, from the graph's static shapes, of what one
// training step holds at the per-worker batch: every variable (weights,
// momentum slots, BatchNorm statistics), one gradient per trainable weight,
// and the forward activations of the towers that the backward pass keeps.
// Measured against peak RSS on Fashion-MNIST it is 0.8–1.35× what the
// process really takes (the demo preset; ResNet-18 at 32 px, batch 128): it
// refuses what cannot fit by far, and is no tool for the last batch size.
type stepMemory struct {
	fixed    int64 // variables, gradients, data, runtime
	perImage int64
	batch    int64
	largest  []tfgraph.OutputBytes
}

func (m stepMemory) total() int64 { return m.fixed + m.perImage*m.batch }

// estimateStep estimates the step of g at batch, with dataBytes of images
// held in memory.
func estimateStep(g *tfgraph.Graph, batch, dataBytes int64) stepMemory {
	e := g.EstimateMemory(batch, "tower")
	var grads int64
	for _, v := range g.Trainable() {
		n := int64(4)
		for _, d := range v.Dims {
			n *= d
		}
		grads += n
	}
	fixed := e.Variables + grads + dataBytes + runtimeOverhead + (e.Outputs - e.PerImage*batch)
	return stepMemory{fixed: fixed, perImage: e.PerImage, batch: batch, largest: e.Largest}
}

// checkMemory refuses a step that cannot fit in avail bytes (of where:
// "RAM (MemAvailable)" or a GPU's memory), with the estimate, its largest
// tensors and the largest batch that would fit.
func checkMemory(m stepMemory, avail int64, where string) error {
	if avail <= 0 || m.total() <= avail {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "preflight: one training step at batch %d needs about %s (weights, slots and data %s, activations %s per image), but %s has %s",
		m.batch, gib(m.total()), gib(m.fixed), mib(m.perImage), where, gib(avail))
	if fit := fitBatch(m, avail); fit > 0 {
		fmt.Fprintf(&b, "; optim.batch_size %d would fit (per worker)", fit)
	} else {
		b.WriteString("; no batch fits: lower data.image_size or model.width, or pick a smaller model.arch")
	}
	if len(m.largest) > 0 {
		fmt.Fprintf(&b, "; largest tensor %s (%s)", m.largest[0].Name, gib(m.largest[0].Bytes))
	}
	return fmt.Errorf("%s", b.String())
}

// fitBatch is the largest power of two whose step fits in 90 % of avail.
func fitBatch(m stepMemory, avail int64) int64 {
	room := avail*9/10 - m.fixed
	if m.perImage <= 0 || room < m.perImage {
		return 0
	}
	b := int64(1)
	for b*2*m.perImage <= room {
		b *= 2
	}
	return b
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// availableFor is the memory the step's device offers: the GPU's as
// TensorFlow reports it for a GPU device, else the machine's (or its
// cgroup's) available RAM.
func availableFor(device string, devices []tfgraph.Device) (int64, string) {
	if strings.Contains(strings.ToUpper(device), "GPU") {
		for _, d := range devices {
			if d.Type == "GPU" && strings.HasSuffix(d.Name, device[strings.LastIndex(device, "/")+1:]) {
				return d.MemoryBytes, d.Name
			}
		}
	}
	m := sysinfo.ReadMemory()
	return m.Available, "RAM (" + m.Source + ")"
}

// checkStepMemory refuses a run whose step cannot fit where it runs (see
// stepMemory): the graph g of cfg, workers processes sharing the global
// batch, dataBytes of images held.
func checkStepMemory(g *tfgraph.Graph, cfg *configs.Config, workers int, dataBytes int64) error {
	batch := int64(cfg.Optim.BatchSize / max(workers, 1))
	m := estimateStep(g, batch, dataBytes)
	avail, where := configAvailable(cfg)
	return checkMemory(m, avail, where)
}

// Fit is what a config's run needs of a machine and what the machine has.
type Fit struct {
	// Memory is the estimated bytes of one training step (stepMemory) and
	// MemoryAvailable what its device offers (MemoryWhere).
	Memory, MemoryAvailable int64
	MemoryWhere             string
	// Disk is the bytes two checkpoints and the SavedModel take, DiskFree
	// the space free in the folder asked about.
	Disk, DiskFree int64
}

// MemoryOK and DiskOK say whether the machine has what the run needs.
func (f Fit) MemoryOK() bool { return f.MemoryAvailable <= 0 || f.Memory <= f.MemoryAvailable }
func (f Fit) DiskOK() bool   { return f.Disk <= f.DiskFree }

// MachineFit builds cfg's training step (one process, no data read: the
// data's bytes are estimated from the image size and dataImages) and
// measures it against this machine's memory and the free space of dir.
func MachineFit(cfg *configs.Config, dir string, dataImages int64) (Fit, error) {
	p, err := BuildPipeline(cfg, 10, 100)
	if err != nil {
		return Fit{}, err
	}
	side := int64(cfg.Data.ImageSize)
	m := estimateStep(p.Graph, int64(cfg.Optim.BatchSize), dataImages*side*side*int64(cfg.Data.Channels))
	f := Fit{Memory: m.total()}
	f.MemoryAvailable, f.MemoryWhere = configAvailable(cfg)
	ckpt, sm := diskNeed(p.Graph.Variables())
	f.Disk = 2*ckpt + sm
	if f.DiskFree, err = freeBytes(dir); err != nil {
		return f, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return f, nil
}

// configAvailable is availableFor cfg's first device (TensorFlow is asked
// for its devices only when that is a GPU).
func configAvailable(cfg *configs.Config) (int64, string) {
	device := ""
	if len(cfg.Runtime.Devices) > 0 {
		device = cfg.Runtime.Devices[0]
	}
	var devices []tfgraph.Device
	if strings.Contains(strings.ToUpper(device), "GPU") {
		devices, _ = tfgraph.ListDevices(tfgraph.SessionOptions{GPUMemoryGrowth: cfg.Runtime.GPUMemoryGrowth})
	}
	return availableFor(device, devices)
}
