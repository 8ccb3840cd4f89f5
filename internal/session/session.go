// Package session maps the runtime section of the config to what every
// TensorFlow graph of a command is built and run with: the devices
// (ResolveDevices, WithDevices, Device), the session options (Options) and
// the arithmetic precision (Precision). train, eval, export and the
// commands share it, so a graph is placed and run alike wherever it is
// built.
package session

import (
	"strings"

	"github.com/simsiam-go/simsiam/configs"
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
// auto is bf16 when the CPU has bfloat16 matrix hardware (sysinfo.BF16Flags)
// and runtime.onednn is on, else fp32 (fp16 is never picked by auto: it
// has not been run on a GPU by this project).
func Precision(r configs.Runtime) (tfgraph.Precision, string) {
	on, known := tfgraph.OneDNNEnabled()
	return precisionFor(r, sysinfo.ReadCPU(), on || !known)
}

// precisionFor resolves r.Precision for cpu; onednn says whether this
// process runs TensorFlow's oneDNN kernels.
func precisionFor(r configs.Runtime, cpu sysinfo.CPU, onednn bool) (tfgraph.Precision, string) {
	switch r.Precision {
	case "", "auto":
		hw := cpu.BF16()
		switch {
		case len(hw) == 0:
			return tfgraph.PrecisionFP32, "auto: the CPU has no AMX-BF16 or AVX512-BF16"
		case !r.OneDNN || !onednn:
			return tfgraph.PrecisionFP32, "auto: the CPU has " + strings.Join(hw, ", ") + " but oneDNN is off"
		}
		return tfgraph.PrecisionBF16, "auto: the CPU has " + strings.Join(hw, ", ")
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
