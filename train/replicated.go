package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// replicated is a worker of a data-parallel job (see Replicas): it trains
// on its shard of every global batch, the chief (rank 0) writes the
// run's files, and the workers agree by collectives on the start, the
// stop and the barriers.
type replicated struct {
	rep       *Replicas
	logw      io.Writer
	skipLimit int // train.skip_nonfinite_steps, for the messages
	// agreed is this worker's agreedConfig, compared with the chief's at
	// the start barrier.
	agreed string
	// failed: a collective failed (see coordinator.abandoned).
	failed bool
}

func (c *replicated) chief() bool         { return c.rep.Chief() }
func (c *replicated) replicas() *Replicas { return c.rep }
func (c *replicated) abandoned() bool     { return c.failed }

// sessionOptions: the session sees only this worker's devices, so
// creating it does not wait for the others (the collectives do).
func (c *replicated) sessionOptions(so *tfgraph.SessionOptions) {
	so.DeviceFilters = []string{c.rep.Device()}
	so.Target = c.rep.Target
	so.CollectiveNCCL = c.rep.Hint == "nccl"
}

// sync waits for every worker and gives each the chief's variables, global
// step included (its data position follows from it), and the chief's count
// of skipped non-finite steps (only the chief reads metrics.jsonl).
func (c *replicated) sync(sess *Session, p *Pipeline, _ int64, skips int) (int64, int, error) {
	r := c.rep
	fmt.Fprintf(c.logw, "worker %d of %d: waiting up to %g s for the other workers (runtime.barrier_timeout_s)\n", r.Rank, r.Size(), r.BarrierTimeout)
	t0 := time.Now()
	if err := c.checkConfig(sess, p); err != nil {
		return 0, 0, err
	}
	feeds := map[Output]*tfgraph.Tensor{}
	if r.Chief() {
		t, err := tfgraph.NewTensor(float64(skips))
		if err != nil {
			return 0, 0, err
		}
		feeds[p.SkipsIn] = t
	}
	synced, err := sess.Run(feeds, []Output{p.SkipsOut}, p.Sync)
	if err != nil {
		c.failed = true
		return 0, 0, r.collectiveError("the start barrier", true, err)
	}
	chiefs, ok := synced[0].Value().(float64)
	if !ok || chiefs < 0 || chiefs != math.Trunc(chiefs) {
		return 0, 0, fmt.Errorf("the start barrier: the chief's count of skipped steps is %v, want a whole number", synced[0].Value())
	}
	if !r.Chief() && chiefs > 0 {
		fmt.Fprintf(c.logw, "worker %d of %d: the chief's %s counts %d non-finite steps skipped (train.skip_nonfinite_steps %d)\n", r.Rank, r.Size(), runfolder.MetricsName, int(chiefs), c.skipLimit)
	}
	out, err := sess.Run(nil, []Output{p.GlobalStep.Read()})
	if err != nil {
		return 0, int(chiefs), err
	}
	from, err := tfgraph.Int64Scalar(out[0])
	if err != nil {
		return 0, int(chiefs), fmt.Errorf("global step: %w", err)
	}
	fmt.Fprintf(c.logw, "worker %d of %d: all workers joined after %.1f s; starting at step %d with the chief's weights\n", r.Rank, r.Size(), time.Since(t0).Seconds(), from)
	return from, int(chiefs), nil
}

// checkConfig is the start barrier's first part: every worker gets the
// chief's agreed config, compares it with its own and says which keys
// differ, and the count of workers that differ reaches everyone, so the
// whole job stops with the cause instead of training on different configs
// (or failing later in a shape mismatch or a timeout).
func (c *replicated) checkConfig(sess *Session, p *Pipeline) error {
	r := c.rep
	in, err := tfgraph.NewTensor(encodeAgreed(c.agreed))
	if err != nil {
		return err
	}
	out, err := sess.Run(map[Output]*tfgraph.Tensor{p.ConfigIn: in}, []Output{p.ConfigOut})
	if err != nil {
		c.failed = true
		return r.collectiveError("the start barrier", true, err)
	}
	chief, err := tfgraph.Value[[]float64](out[0])
	if err != nil {
		return err
	}
	diff, err := agreeWithChief(c.agreed, chief)
	if err != nil {
		return err
	}
	vote := 0.0
	if diff != "" {
		vote = 1
	}
	v, err := tfgraph.NewTensor(vote)
	if err != nil {
		return err
	}
	out, err = sess.Run(map[Output]*tfgraph.Tensor{p.VotesIn: v}, []Output{p.VotesOut})
	if err != nil {
		c.failed = true
		return r.collectiveError("the start barrier", true, err)
	}
	votes, _ := out[0].Value().(float64)
	switch {
	case diff != "":
		return fmt.Errorf("worker %d of %d: the config differs from the chief's in %s; every worker of a job must run the same config (only output_dir, data.dir, eval.dir, train.log_every and runtime.devices, threads, target, xla, onednn and gpu_memory_growth may differ)",
			r.Rank, r.Size(), diff)
	case votes > 0:
		return fmt.Errorf("worker %d of %d: %d of the other workers run a config that differs from the chief's (each names its keys); every worker of a job must run the same config",
			r.Rank, r.Size(), int(votes))
	}
	return nil
}

// dataContext: a signal only sets the stop flag of the next step's
// all-reduce; the data and the kNN monitor are not cut short by it.
func (c *replicated) dataContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

func (c *replicated) shard(o *data.PrefetchOptions) { o.Shard, o.Shards = c.rep.Rank, c.rep.Size() }

// step feeds the stop flag (set when ctx is done) and runs the step while
// watching the other workers. A finiteness error is the same on every
// worker and returned with the step's stats; a failed collective abandons
// the session.
func (c *replicated) step(ctx context.Context, sess *Session, p *Pipeline, feeds map[Output]*tfgraph.Tensor, step int64) (Stats, error) {
	stop := float32(0)
	if ctx.Err() != nil {
		stop = 1
	}
	var err error
	if feeds[p.Stop], err = tfgraph.NewTensor(stop); err != nil {
		return Stats{}, err
	}
	var stats Stats
	var stepErr error // a finiteness error, the same on every worker
	err = c.rep.watch(fmt.Sprintf("step %d", step+1), false, func() error {
		var err error
		if stats, err = sess.TrainStep(feeds); err != nil && !errors.Is(err, errStepRun) {
			stepErr = err
			return nil
		}
		return err
	})
	if err != nil {
		c.failed = true
		return Stats{}, err // the Run may still be going: leave its stats
	}
	return stats, stepErr
}

// stop: the workers stop together, after the step whose all-reduced stop
// flag one of them set.
func (c *replicated) stop(_ context.Context, stats Stats) bool { return stats.Stop }

// barrier waits for every worker (while the chief checkpoints or runs the
// kNN monitor, which may take longer than a step's all-reduce timeout).
func (c *replicated) barrier(sess *Session, p *Pipeline, done int64, due bool) error {
	if !due {
		return nil
	}
	err := c.rep.watch(fmt.Sprintf("the barrier after step %d", done), true, func() error {
		_, err := sess.Run(nil, []Output{p.Barrier})
		return err
	})
	if err != nil {
		c.failed = true
	}
	return err
}

// workerFiles are the run's files as a worker other than the chief sees
// them: it writes none, reports no progress, and its checkpoints are the
// ones the chief writes at the same steps.
type workerFiles struct {
	ckpts  tfgraph.Checkpoints
	resume bool
	total  int64
}

func (workerFiles) checkSpace([]*tfgraph.Variable) error      { return nil }
func (workerFiles) openLogs() error                           { return nil }
func (workerFiles) close(bool)                                {}
func (workerFiles) progress(io.Writer) io.Writer              { return io.Discard }
func (workerFiles) resumeSkips(int64) (int, error)            { return 0, nil }
func (workerFiles) skipped(runfolder.SkipRecord) error        { return nil }
func (workerFiles) after(context.Context, int64, Stats) error { return nil }

func (w workerFiles) open(res *Result, from int64) error {
	res.AlreadyComplete = w.resume && from >= w.total
	return nil
}

// stop: the chief checkpoints this same step.
func (w workerFiles) stop(res *Result, _ int64) (string, error) {
	return w.ckpts.Prefix(res.Steps), nil
}

func (w workerFiles) finish(res *Result) error {
	res.Checkpoint = w.ckpts.Prefix(res.Steps) // the chief's
	return nil
}
