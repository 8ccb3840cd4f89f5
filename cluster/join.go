// Package cluster starts and joins data-parallel training jobs: Join makes
// this process the worker TF_CONFIG names (its own TensorFlow gRPC server,
// ring all-reduce on CPUs, NCCL on GPUs), and Launch runs a job of several
// worker processes on this machine. The training itself is package train's
// (train.Replicas); the command line is cmd/simsiam's.
package cluster

import (
	"context"
	"fmt"
	"io"
	"time"

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
// says who the worker is. It then waits, up to runtime.barrier_timeout_s
// and no longer than ctx, until every other member's TF server answers
// (WaitForPeers): TensorFlow itself would wait for an absent chief without
// end, deaf to signals.
func Join(ctx context.Context, cfg *configs.Config, devices []string, log io.Writer) (*train.Replicas, error) {
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
	wait := time.Duration(cfg.Runtime.BarrierTimeoutS * float64(time.Second))
	if err := WaitForPeers(ctx, rep, wait, log); err != nil {
		return nil, err
	}
	return rep, nil
}

// peerProbeInterval is how often WaitForPeers asks an absent peer again.
const peerProbeInterval = 250 * time.Millisecond

// WaitForPeers waits until the TF server of every member of rep's job but
// this one answers (tfgraph.WaitForServer: it takes a connection and speaks
// gRPC's HTTP/2), for wait in all; ctx ending (a signal) stops it at once.
// The error names the first member that did not answer, the time waited and
// the key that sets it.
func WaitForPeers(ctx context.Context, rep *train.Replicas, wait time.Duration, log io.Writer) error {
	if rep == nil || rep.Size() <= 1 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for i, t := range rep.Tasks {
		if i == rep.Rank {
			continue
		}
		who := t.String() // "worker 1 (host:port)"
		if i == 0 {
			who = "the chief, " + who
		}
		if err := tfgraph.ProbeServer(t.Addr, 200*time.Millisecond); err == nil {
			continue
		}
		fmt.Fprintf(log, "simsiam: worker %d of %d: waiting up to %.1f s for %s (runtime.barrier_timeout_s)\n", rep.Rank, rep.Size(), time.Until(deadline).Seconds(), who)
		if err := tfgraph.WaitForServer(ctx, t.Addr, time.Until(deadline), peerProbeInterval); err != nil {
			return fmt.Errorf("worker %d of %d: %s is not there: %w", rep.Rank, rep.Size(), who, err)
		}
	}
	return nil
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
