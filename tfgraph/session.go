package tfgraph

import (
	"fmt"
	"os"
	"strings"

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
	// DeviceFilters restricts the devices a session on a cluster sees
	// (["/job:worker/task:1"]: only its own task), so creating it does not
	// wait for the other tasks.
	DeviceFilters []string
	// CollectiveNCCL lets collective ops on GPUs use NCCL, in the same
	// order on every worker.
	CollectiveNCCL bool
}

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
	return proto.Marshal(c)
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
	s, err := tf.NewSession(g.g, &tf.SessionOptions{Target: o.Target, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("starting TensorFlow session: %w", err)
	}
	return &Session{s: s, Graph: g}, nil
}

// Close releases the session.
func (s *Session) Close() error { return s.s.Close() }

// Run feeds, fetches and runs targets in one Session.Run.
func (s *Session) Run(feeds map[Output]*Tensor, fetches []Output, targets ...*Operation) ([]*Tensor, error) {
	return s.s.Run(feeds, fetches, targets)
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
