// Package cluster starts and joins data-parallel training jobs: Join makes
// this process the worker TF_CONFIG names (its own TensorFlow gRPC server,
// ring all-reduce on CPUs, NCCL on GPUs), and Launch runs a job of several
// worker processes on this machine. The training itself is package train's
// (train.Replicas); the command line is cmd/simsiam's.
package cluster

import (
	"fmt"
	"io"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// ConfigError says that a job cannot start as configured (TF_CONFIG, the
// worker count, the batch): the user's to fix, not a runtime failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

// Join makes this process the worker TF_CONFIG names: it starts the task's
// TF gRPC server with task 0 as the collective group leader and returns the
// worker's place in the job; nil without TF_CONFIG (a process training
// alone). devices are the resolved devices the worker trains on: a GPU
// chooses NCCL for the all-reduce, anything else the ring. A line on log
// says who the worker is.
func Join(cfg *configs.Config, devices []string, log io.Writer) (*train.Replicas, error) {
	tc, err := tfgraph.TFConfigFromEnv()
	if err != nil {
		return nil, &ConfigError{err}
	}
	if tc == nil {
		return nil, nil
	}
	rep, err := plan(tc, cfg, devices)
	if err != nil {
		return nil, err
	}
	srv, err := tfgraph.NewServer(tc.Cluster, tc.Task.Type, tc.Task.Index, tfgraph.ServerOptions{
		CollectiveGroupLeader: rep.Tasks[0].Device(), CollectiveNCCL: rep.Hint == "nccl"})
	if err != nil {
		return nil, err
	}
	rep.Target = srv.Target()
	fmt.Fprintf(log, "simsiam: worker %d of %d (TF_CONFIG task %s:%d), TF server %s, all-reduce %s, global batch %d (%d per worker)\n",
		rep.Rank, rep.Size(), tc.Task.Type, tc.Task.Index, srv.Target(), rep.Hint, cfg.Optim.BatchSize, cfg.Optim.BatchSize/max(rep.Size(), 1))
	return rep, nil
}

// plan is the worker's place in the job tc describes, everything but its
// server's target.
func plan(tc *tfgraph.TFConfig, cfg *configs.Config, devices []string) (*train.Replicas, error) {
	if cfg.Runtime.Target != "" {
		return nil, configErrorf("TF_CONFIG is set and runtime.target is %q: a worker trains through its own TF server; unset one of them", cfg.Runtime.Target)
	}
	rank := tc.Rank()
	if rank < 0 {
		return nil, configErrorf("TF_CONFIG: task type %q: a training task is a chief or a worker", tc.Task.Type)
	}
	return &train.Replicas{Rank: rank, Tasks: tc.Members(), Hint: allReduce(devices),
		CollectiveTimeout: cfg.Runtime.CollectiveTimeoutS, BarrierTimeout: cfg.Runtime.BarrierTimeoutS}, nil
}

// allReduce is the collective implementation for a worker on devices:
// "nccl" when the first is a GPU, else "ring".
func allReduce(devices []string) string {
	if len(devices) > 0 {
		if d, err := tfgraph.ParseDevice(devices[0]); err == nil && d.Type == "GPU" {
			return "nccl"
		}
	}
	return "ring"
}
