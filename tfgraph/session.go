package tfgraph

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// SessionOptions are the knobs of a TensorFlow session that users set from
// the config.
type SessionOptions struct {
	// Target is "" for in-process, or "grpc://host:port" for a TF server.
	Target string
	// IntraOpThreads and InterOpThreads size TF's thread pools (0 = TF picks).
	IntraOpThreads, InterOpThreads int32
	// XLA turns on the XLA JIT for the whole graph (global_jit_level ON_1).
	XLA bool
	// CPUDevices > 1 asks for that many CPU devices (for multi-device tests).
	CPUDevices int32
	// AllowSoftPlacement lets ops without a kernel on the requested device run
	// elsewhere.
	AllowSoftPlacement bool
	// GPUMemoryGrowth makes TensorFlow take GPU memory as it needs it
	// instead of nearly all of it at the first session, so several processes
	// can share a GPU. The first session of a process fixes it.
	GPUMemoryGrowth bool
	// Precision picks grappler's mixed-precision rewrite ("" or
	// PrecisionFP32: none).
	Precision Precision
	// DeviceFilters restricts the devices a session on a cluster sees
	// (["/job:worker/task:1"]: only its own task), so creating it does not
	// wait for the other tasks.
	DeviceFilters []string
	// CollectiveNCCL lets collective ops on GPUs use NCCL, in the same
	// order on every worker.
	CollectiveNCCL bool
}

// Precision is the arithmetic of the matrix work in a session's graphs:
// TensorFlow's grappler rewrites allow-listed ops (MatMul, Conv2D and their
// gradients, ...) to the low-precision type and inserts the casts; variables
// and deny-listed ops (reductions, Exp, Log, ...) stay float32.
type Precision string

// The precisions a session can run in.
const (
	// PrecisionFP32 rewrites nothing.
	PrecisionFP32 Precision = "fp32"
	// PrecisionBF16 turns on RewriterConfig.auto_mixed_precision_onednn_bfloat16
	// (bfloat16 through oneDNN on CPUs; it needs the oneDNN kernels on).
	PrecisionBF16 Precision = "bf16"
	// PrecisionFP16 turns on RewriterConfig.auto_mixed_precision (float16 on
	// CUDA GPUs of compute capability 7.0 or newer; it changes nothing on a
	// CPU). Training needs loss scaling with it.
	PrecisionFP16 Precision = "fp16"
	// PrecisionFP16CPU turns on RewriterConfig.auto_mixed_precision_cpu:
	// float16 emulated on the CPU, TensorFlow's own way to test the fp16
	// rewrite without a GPU (slow; for tests).
	PrecisionFP16CPU Precision = "fp16-cpu"
)

// ConfigProto serialises the options as a tensorflow.ConfigProto.
func (o SessionOptions) ConfigProto() ([]byte, error) {
	c := &pb.ConfigProto{
		IntraOpParallelismThreads: o.IntraOpThreads,
		InterOpParallelismThreads: o.InterOpThreads,
		AllowSoftPlacement:        o.AllowSoftPlacement,
	}
	if o.GPUMemoryGrowth {
		c.GpuOptions = &pb.GPUOptions{AllowGrowth: true}
	}
	c.DeviceFilters = o.DeviceFilters
	if o.CollectiveNCCL {
		c.Experimental = &pb.ConfigProto_Experimental{CollectiveNccl: true, CollectiveDeterministicSequentialExecution: true}
	}
	if o.CPUDevices > 1 {
		c.DeviceCount = map[string]int32{"CPU": o.CPUDevices}
	}
	if o.XLA {
		c.GraphOptions = &pb.GraphOptions{OptimizerOptions: &pb.OptimizerOptions{GlobalJitLevel: pb.OptimizerOptions_ON_1}}
	}
	if rw, err := o.Precision.rewrites(); err != nil {
		return nil, err
	} else if rw != nil {
		if c.GraphOptions == nil {
			c.GraphOptions = &pb.GraphOptions{}
		}
		c.GraphOptions.RewriteOptions = rw
	}
	return proto.Marshal(c)
}

// rewrites is the RewriterConfig that turns p's rewrite on (nil for fp32).
// Every other grappler optimizer keeps its default.
func (p Precision) rewrites() (*pb.RewriterConfig, error) {
	on := pb.RewriterConfig_ON
	switch p {
	case "", PrecisionFP32:
		return nil, nil
	case PrecisionBF16:
		return &pb.RewriterConfig{AutoMixedPrecisionOnednnBfloat16: on}, nil
	case PrecisionFP16:
		return &pb.RewriterConfig{AutoMixedPrecision: on}, nil
	case PrecisionFP16CPU:
		return &pb.RewriterConfig{AutoMixedPrecisionCpu: on}, nil
	}
	return nil, fmt.Errorf("precision %q: want fp32, bf16, fp16 or fp16-cpu", string(p))
}

// Float32Ops are the ops the mixed-precision rewrites must leave in
// float32. TensorFlow's lists put Sum, Mean and Square on the infer list,
// so downstream of a bfloat16 MatMul they ran in bfloat16 too: the whole
// l2 normalisation and cosine of SimSiam's loss did (seen in the optimized
// graph). Rsqrt, Exp, Log and the softmax losses are on the deny list
// already.
var Float32Ops = []string{"Sum", "Mean", "Square"}

// keepFloat32 moves Float32Ops to the rewrites' deny list through the
// environment variables TensorFlow reads each time the rewrite runs
// (TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD, and _REMOVE from the
// infer and clear lists, since an op on two lists makes the rewrite fail).
// Names already there are kept; the variables are process-wide, as
// TF_XLA_FLAGS is for XLA.
func keepFloat32() {
	const prefix = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_"
	for _, name := range []string{"DENYLIST_ADD", "INFERLIST_REMOVE", "CLEARLIST_REMOVE"} {
		key := prefix + name
		cur := os.Getenv(key)
		have := map[string]bool{}
		var list []string
		for _, op := range strings.Split(cur, ",") {
			if op = strings.TrimSpace(op); op != "" && !have[op] {
				have[op] = true
				list = append(list, op)
			}
		}
		for _, op := range Float32Ops {
			if !have[op] {
				list = append(list, op)
			}
		}
		if v := strings.Join(list, ","); v != cur {
			os.Setenv(key, v)
		}
	}
}

// checkPrecision refuses bf16 in a process without the oneDNN kernels:
// TensorFlow's bfloat16 rewrite then does nothing, silently.
func (o SessionOptions) checkPrecision() error {
	if o.Precision != "" && o.Precision != PrecisionFP32 {
		keepFloat32()
	}
	if o.Precision == PrecisionBF16 {
		if on, known := OneDNNEnabled(); known && !on {
			return fmt.Errorf("precision bf16 needs TensorFlow's oneDNN CPU kernels, which are off in this process (%s=1 when the process starts; runtime.onednn: true): without them the bfloat16 rewrite does nothing", OneDNNEnv)
		}
	}
	return nil
}

// enableXLAOnCPU adds --tf_xla_cpu_global_jit to TF_XLA_FLAGS: without it
// TensorFlow's auto-clustering ignores global_jit_level for CPU devices and
// compiles nothing. TF reads the flags when XLA is first used.
func enableXLAOnCPU() {
	const flag = "--tf_xla_cpu_global_jit"
	cur := os.Getenv("TF_XLA_FLAGS")
	if !strings.Contains(cur, flag) {
		os.Setenv("TF_XLA_FLAGS", strings.TrimSpace(cur+" "+flag))
	}
}

// Session runs a finished graph.
type Session struct {
	s *tf.Session
	// Graph is the graph the session runs.
	Graph *Graph
}

// NewSession starts a session on g.
func NewSession(g *Graph, o SessionOptions) (*Session, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	cfg, err := o.ConfigProto()
	if err != nil {
		return nil, fmt.Errorf("session config: %w", err)
	}
	if o.XLA {
		enableXLAOnCPU()
	}
	if err := o.checkPrecision(); err != nil {
		return nil, err
	}
	if err := checkSessionTarget(o.Target, TargetDialTimeout); err != nil {
		return nil, err
	}
	s, err := tf.NewSession(g.g, &tf.SessionOptions{Target: o.Target, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("starting TensorFlow session: %w", err)
	}
	return &Session{s: s, Graph: g}, nil
}

// TargetDialTimeout bounds the check that a remote session target listens:
// TensorFlow itself retries a dead address without end, deaf to signals.
const TargetDialTimeout = 10 * time.Second

// checkSessionTarget dials a grpc:// target's host:port (nothing for an
// in-process session), so a dead or unreachable address fails at once
// with its name instead of hanging the first Session.Run.
func checkSessionTarget(target string, timeout time.Duration) error {
	addr, ok := strings.CutPrefix(target, "grpc://")
	if !ok {
		return nil
	}
	if err := ValidateAddr(addr); err != nil {
		return fmt.Errorf("session target %q: %w", target, err)
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("session target %q: no TensorFlow server answers there: %w", target, err)
	}
	return c.Close()
}

// Close releases the session.
func (s *Session) Close() error { return s.s.Close() }

// Run feeds, fetches and runs targets in one Session.Run.
// A full disk's error loses TensorFlow's OOM advice (noSpace).
func (s *Session) Run(feeds map[Output]*Tensor, fetches []Output, targets ...*Operation) ([]*Tensor, error) {
	out, err := s.s.Run(feeds, fetches, targets)
	if err != nil {
		return out, noSpace(err)
	}
	return out, nil
}

// Devices lists the devices the session sees.
func (s *Session) Devices() ([]Device, error) {
	ds, err := s.s.ListDevices()
	if err != nil {
		return nil, fmt.Errorf("listing TensorFlow's devices: %w", err)
	}
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = Device{Name: d.Name, Type: d.Type, MemoryBytes: d.MemoryLimitBytes}
	}
	return out, nil
}

// Version is the TensorFlow version of the linked library.
func Version() string { return tf.Version() }

// Value returns the Go value of t (see Tensor.Value) as a T, for example
// []float32 for a float32 vector or [][]int32 for an int32 matrix. A nil
// tensor or one of another type or rank is an error naming both.
func Value[T any](t *Tensor) (T, error) {
	var zero T
	if t == nil {
		return zero, fmt.Errorf("want a tensor of Go type %T, got none", zero)
	}
	v, ok := t.Value().(T)
	if !ok {
		return zero, fmt.Errorf("want a tensor of Go type %T, got %T", zero, t.Value())
	}
	return v, nil
}

// FloatScalar reads a float32 scalar tensor.
func FloatScalar(t *Tensor) (float32, error) { return Value[float32](t) }

// Int64Scalar reads an int64 scalar tensor.
func Int64Scalar(t *Tensor) (int64, error) { return Value[int64](t) }
