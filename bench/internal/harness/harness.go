// Package harness holds what the Go benchmark mains (bench/gobench,
// bench/goinfer) share: the command-line settings that must match
// bench/pybench.py, the project config they describe, the launch clock,
// summaries and the one-line JSON output.
package harness

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Options are the settings shared by every Go benchmark process.
type Options struct {
	Mode       string
	Label      string
	Batch      int
	Batches    string
	Width      int
	Arch       string
	ProjDim    int
	ProjHidden int
	ProjLayers int
	PredHidden int
	ImageSize  int
	Warmup     int
	Steps      int
	Blocks     int
	XLA        bool
	Intra      int
	Inter      int
	DataPath   string
	Seed       int64
	// Precision is runtime.precision (fp32, bf16, fp16).
	Precision string
}

// Register adds the shared flags to fs. modeHelp documents -mode.
func (o *Options) Register(fs *flag.FlagSet, defaultMode, modeHelp string) {
	fs.StringVar(&o.Mode, "mode", defaultMode, modeHelp)
	fs.StringVar(&o.Label, "label", "", "free-form name of the configuration, copied to the output")
	fs.IntVar(&o.Batch, "batch", 64, "batch size")
	fs.StringVar(&o.Batches, "batches", "", "comma-separated batch sizes measured in turn in one process (overrides -batch for the measurement)")
	fs.IntVar(&o.Width, "width", 64, "channels of the first ResNet stage")
	fs.StringVar(&o.Arch, "arch", "resnet18", "backbone")
	fs.IntVar(&o.ProjDim, "proj-dim", 2048, "projector output dimension")
	fs.IntVar(&o.ProjHidden, "proj-hidden", 2048, "projector hidden dimension")
	fs.IntVar(&o.ProjLayers, "proj-layers", 3, "projector layers (2 or 3)")
	fs.IntVar(&o.PredHidden, "pred-hidden", 512, "predictor bottleneck dimension")
	fs.IntVar(&o.ImageSize, "image-size", 32, "network input side")
	fs.IntVar(&o.Warmup, "warmup", 3, "untimed steps after the first one")
	fs.IntVar(&o.Steps, "steps", 10, "timed steps per block")
	fs.IntVar(&o.Blocks, "blocks", 3, "timed blocks (repetitions inside the process)")
	fs.BoolVar(&o.XLA, "xla", false, "SessionOptions.XLA (global_jit_level ON_1; on CPU TensorFlow also needs TF_XLA_FLAGS=--tf_xla_cpu_global_jit)")
	fs.IntVar(&o.Intra, "intra", 0, "intra-op threads (0 = TensorFlow default)")
	fs.IntVar(&o.Inter, "inter", 0, "inter-op threads (0 = TensorFlow default)")
	fs.StringVar(&o.DataPath, "data", "", "CIFAR-10-format binary file")
	fs.Int64Var(&o.Seed, "seed", 0, "run seed")
	fs.StringVar(&o.Precision, "precision", "fp32", "runtime.precision: fp32, bf16 (grappler's oneDNN bfloat16 rewrite; needs TF_ENABLE_ONEDNN_OPTS=1) or fp16")
}

// Config is the project's config for the benchmarked network: the SimSiam
// CIFAR recipe (ResNet-18 CIFAR stem, no blur) with the given sizes.
func (o *Options) Config() configs.Config {
	c := configs.Default()
	c.Seed = o.Seed
	c.Data.Format = "cifar10"
	c.Data.ImageSize, c.Data.Channels = o.ImageSize, 3
	c.Data.Mean = []float64{0.4914, 0.4822, 0.4465}
	c.Data.Std = []float64{0.2470, 0.2435, 0.2616}
	c.Data.Prefetch = 2
	c.Augment.BlurProb = 0
	c.Model.Arch, c.Model.Stem, c.Model.Width = o.Arch, "cifar", o.Width
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.ProjLayers = o.ProjDim, o.ProjHidden, o.ProjLayers
	c.Model.PredHidden = o.PredHidden
	c.Optim.BatchSize = o.Batch
	c.Optim.BaseLR, c.Optim.Momentum, c.Optim.WeightDecay = 0.03, 0.9, 5e-4
	c.Optim.FixPredLR = true
	c.Runtime.XLA, c.Runtime.IntraOpThreads, c.Runtime.InterOpThreads = o.XLA, o.Intra, o.Inter
	c.Runtime.Precision = o.Precision
	return c
}

// BatchList is the batch sizes to measure: -batches, or else -batch.
func (o *Options) BatchList() ([]int, error) {
	if o.Batches == "" {
		return []int{o.Batch}, nil
	}
	var out []int
	for _, f := range strings.Split(o.Batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-batches %q: %q is not a positive batch size", o.Batches, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// SessionOptions are the TensorFlow session settings of the run.
func (o *Options) SessionOptions() tfgraph.SessionOptions {
	return tfgraph.SessionOptions{IntraOpThreads: int32(o.Intra), InterOpThreads: int32(o.Inter), XLA: o.XLA, AllowSoftPlacement: true,
		Precision: tfgraph.Precision(o.Precision)}
}

// Clock measures from the process launch: BENCH_LAUNCH_NS (Unix
// nanoseconds, set by the driver just before it starts the process) when
// present, otherwise the start of main.
type Clock struct {
	Launch, MainStart time.Time
	FromDriver        bool
}

// NewClock is called first thing in main.
func NewClock() Clock {
	now := time.Now()
	c := Clock{Launch: now, MainStart: now}
	if s := os.Getenv("BENCH_LAUNCH_NS"); s != "" {
		if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
			c.Launch, c.FromDriver = time.Unix(0, ns), true
		}
	}
	return c
}

// Since is the time since the launch, in seconds.
func (c Clock) Since() float64 { return time.Since(c.Launch).Seconds() }

// Header is the start of a result record: what was run, with which
// settings, where.
func (o *Options) Header(clk Clock) map[string]any {
	return map[string]any{
		"impl": "go", "mode": o.Mode, "label": o.Label,
		"settings": map[string]any{
			"batch": o.Batch, "batches": o.Batches, "width": o.Width, "arch": o.Arch, "stem": "cifar", "image_size": o.ImageSize,
			"proj_dim": o.ProjDim, "proj_hidden": o.ProjHidden, "proj_layers": o.ProjLayers, "pred_hidden": o.PredHidden,
			"warmup": o.Warmup, "steps": o.Steps, "blocks": o.Blocks, "xla": o.XLA, "precision": o.Precision,
			"intra_op_threads": o.Intra, "inter_op_threads": o.Inter,
			"augment":  "in-graph batched (augment.Views): crop scale 0.2-1, jitter p0.8, grey p0.2, flip, no blur",
			"prefetch": 2,
		},
		"env": map[string]any{
			"tf_version": tfgraph.Version(), "go_version": runtime.Version(),
			"num_cpu": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
			"tf_xla_flags": os.Getenv("TF_XLA_FLAGS"), "tf_enable_onednn_opts": os.Getenv(tfgraph.OneDNNEnv),
			"onednn": oneDNN(),
		},
		"phases_s":           map[string]float64{"launch_to_main": clk.MainStart.Sub(clk.Launch).Seconds()},
		"launch_from_driver": clk.FromDriver,
	}
}

// Phases is the phases_s map of a record made by Header.
func Phases(res map[string]any) map[string]float64 { return res["phases_s"].(map[string]float64) }

// Emit adds the peak RSS and err to res, prints res as one JSON line on
// stdout and exits (status 1 when err is set).
func Emit(res map[string]any, err error) {
	res["rss_self_kb"] = maxRSSKB()
	if err != nil {
		res["error"] = err.Error()
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	line, jerr := json.Marshal(res)
	if jerr != nil {
		fmt.Fprintln(os.Stderr, "error:", jerr)
		os.Exit(2)
	}
	fmt.Println(string(line))
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// maxRSSKB is this process's peak resident set size (Linux reports KiB).
func maxRSSKB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss
}

// Summarize is the median and spread of repeated measurements.
func Summarize(v []float64) map[string]any {
	if len(v) == 0 {
		return map[string]any{"n": 0}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return map[string]any{"median": Median(v), "min": s[0], "max": s[len(s)-1], "n": len(v), "values": v}
}

// Median of v (0 for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// oneDNN is whether TensorFlow runs its CPU kernels through oneDNN, or nil
// when the library does not say.
func oneDNN() any {
	if on, known := tfgraph.OneDNNEnabled(); known {
		return on
	}
	return nil
}
