// Package session maps the runtime section of the config to what every
// TensorFlow graph of a command is built and run with: the devices
// (ResolveDevices, WithDevices, Device), the session options (Options) and
// the arithmetic precision (Precision). train, eval, export and the
// commands share it, so a graph is placed and run alike wherever it is
// built.
package session

import (
	"fmt"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/bf16probe"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Options maps the runtime section of the config to TensorFlow session
// options.
func Options(r configs.Runtime) tfgraph.SessionOptions {
	p, _ := Precision(r)
	return tfgraph.SessionOptions{
		Target: r.Target, IntraOpThreads: int32(r.IntraOpThreads), InterOpThreads: int32(r.InterOpThreads),
		XLA: r.XLA, AllowSoftPlacement: true, GPUMemoryGrowth: r.GPUMemoryGrowth, Precision: p,
	}
}

// Precision resolves runtime.precision for this machine and says why:
// auto is bf16 when runtime.onednn is on and bf16 measured clearly faster
// than fp32 here (bf16probe: a probe of the step's kernels, run once per CPU
// model and TensorFlow version and kept in the cache folder), else fp32.
// fp16 is never picked by auto: it has not been run on a GPU by this
// project.
func Precision(r configs.Runtime) (tfgraph.Precision, string) {
	on, known := tfgraph.OneDNNEnabled()
	cpu := sysinfo.ReadCPU()
	probe := func() (bf16probe.Result, error) {
		key := bf16probe.Key(cpu, tfgraph.Version(), on)
		return bf16probe.Get(bf16probe.CacheDir(), key, func() (tfgraph.SpeedProbe, error) {
			o := tfgraph.SessionOptions{IntraOpThreads: int32(r.IntraOpThreads), InterOpThreads: int32(r.InterOpThreads)}
			return tfgraph.ProbeBF16(o, bf16probe.Budget)
		})
	}
	return precisionFor(r, cpu, on || !known, probe)
}

// precisionFor resolves r.Precision for cpu; onednn says whether this
// process runs TensorFlow's oneDNN kernels, and probe measures (or recalls)
// bf16 against fp32 when auto needs it.
func precisionFor(r configs.Runtime, cpu sysinfo.CPU, onednn bool, probe func() (bf16probe.Result, error)) (tfgraph.Precision, string) {
	switch r.Precision {
	case "", "auto":
		if !r.OneDNN || !onednn {
			return tfgraph.PrecisionFP32, "auto: oneDNN is off, and bf16 needs it"
		}
		m, err := probe()
		switch {
		case err != nil:
			return tfgraph.PrecisionFP32, "auto: the bf16 probe failed: " + err.Error()
		case m.Faster():
			return tfgraph.PrecisionBF16, "auto: " + m.Describe()
		}
		return tfgraph.PrecisionFP32, fmt.Sprintf("auto: %s; bf16 needs %.2f×", m.Describe(), bf16probe.MinSpeedup)
	case "bf16":
		if len(cpu.BF16()) == 0 {
			return tfgraph.PrecisionBF16, "runtime.precision; the CPU has no AMX-BF16 or AVX512-BF16, so bfloat16 is emulated (slow)"
		}
		return tfgraph.PrecisionBF16, "runtime.precision"
	}
	return tfgraph.Precision(r.Precision), "runtime.precision"
}

// WithDevices returns a copy of cfg whose runtime.devices are the ones the
// graphs are built for (ResolveDevices): the config as written keeps
// "empty = pick", so a run resumed on another machine picks again.
func WithDevices(cfg *configs.Config) (*configs.Config, error) {
	devs, err := ResolveDevices(cfg.Runtime)
	if err != nil {
		return nil, err
	}
	c := *cfg
	c.Runtime.Devices = devs
	return &c, nil
}

// Device is the device graphs for cfg are built on: the first of
// runtime.devices, or "" (TensorFlow's placer decides) when there is none.
func Device(cfg *configs.Config) string {
	if len(cfg.Runtime.Devices) > 0 {
		return cfg.Runtime.Devices[0]
	}
	return ""
}

// ResolveDevices lists the devices TensorFlow sees with r's session options
// and checks r.Devices against them (see tfgraph.ResolveDevices): the
// devices to build for, never empty.
func ResolveDevices(r configs.Runtime) ([]string, error) {
	visible, err := tfgraph.ListDevices(Options(r))
	if err != nil {
		return nil, err
	}
	return tfgraph.ResolveDevices(r.Devices, visible)
}
