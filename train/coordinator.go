package train

// What differs between a process training alone and a worker of a
// data-parallel job, behind one interface, so the training loop has no
// branch on either.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// coordinator agrees with the other workers of a run, if any: on the
// start (weights, step and skip count), on every step (the stop flag rides
// with the all-reduce), at the barriers while the chief works, and on who
// writes the run's files. solo is a process training alone, replicated a
// worker of a data-parallel job.
type coordinator interface {
	// chief reports whether this process writes the run's files
	// (checkpoints, metrics.jsonl, summaries, config, SavedModel): alone,
	// or rank 0 of a job.
	chief() bool
	// replicas is the job the graph is built for (nil alone).
	replicas() *Replicas
	// sessionOptions adapts the session options to the process.
	sessionOptions(so *tfgraph.SessionOptions)
	// sync agrees on the start, after the chief restored a checkpoint:
	// it returns the step to start from and the count of non-finite steps
	// skipped so far (the chief's, read from its metrics.jsonl).
	sync(sess *Session, p *Pipeline, from int64, skips int) (int64, int, error)
	// dataContext is the context the data and the kNN monitor run under:
	// the workers of a job stop together, so a signal does not cut them
	// short.
	dataContext(ctx context.Context) context.Context
	// shard sets the part of every global batch this process trains on.
	shard(o *data.PrefetchOptions)
	// step runs one training step on feeds (1-based step+1 in messages),
	// asking the other workers to stop after it when ctx is done.
	step(ctx context.Context, sess *Session, p *Pipeline, feeds map[Output]*tfgraph.Tensor, step int64) (Stats, error)
	// stop reports whether the run stops after a step whose stats are
	// given (a zero Stats before the first step).
	stop(ctx context.Context, stats Stats) bool
	// barrier waits for every worker after global step done when due (the
	// chief checkpoints or runs the kNN monitor then).
	barrier(sess *Session, p *Pipeline, done int64, due bool) error
	// abandoned reports that a collective failed: closing the session
	// could block (TensorFlow waits for the dead peer), so it is left to
	// the process exit.
	abandoned() bool
}

// newCoordinator is the coordinator of a run with these options: solo
// unless o.Replicas names a job of several workers, whose config it checks.
func newCoordinator(cfg *configs.Config, o Options) (coordinator, error) {
	if o.Force && o.Resume {
		return nil, errors.New("--force starts afresh and --resume continues: give one of them")
	}
	if o.Replicas == nil || o.Replicas.Size() <= 1 {
		return solo{}, nil
	}
	if cfg.Runtime.IntraOpThreads == 1 {
		// Seen here: both workers die of heap corruption in the first step.
		return nil, errors.New("runtime.intra_op_threads 1 crashes TensorFlow 2.18's ring all-reduce (heap corruption in the first step): use 0 or at least 2 with several workers")
	}
	n := o.Replicas.Size()
	if cfg.Optim.BatchSize%n != 0 || !cfg.Data.DropLast {
		return nil, fmt.Errorf("%d workers: optim.batch_size %d (the global batch) must be a multiple of the worker count and data.drop_last true, so every worker gets batch/%d images every step",
			n, cfg.Optim.BatchSize, n)
	}
	return &replicated{rep: o.Replicas, logw: orDiscard(o.Log), skipLimit: cfg.Train.SkipNonfiniteSteps, agreed: agreedConfig(cfg)}, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
