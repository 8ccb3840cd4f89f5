package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/progress"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Run pretrains SimSiam as cfg says, writing checkpoints, config.yaml and
// metrics.jsonl under cfg.OutputDir.
func Run(ctx context.Context, cfg *configs.Config, o Options) (*Result, error) {
	r, err := newRun(ctx, cfg, o)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, stoppedBeforeStart(cfg, ctx.Err())
		}
		return nil, err
	}
	defer r.close()
	if err := r.start(); err != nil {
		return nil, err
	}
	return r.loop(ctx)
}

// stoppedBeforeStart is the *Stopped of a run interrupted while it was
// being set up (reading data, building the graph): nothing was trained and
// the newest checkpoint on disk is the one to resume from.
func stoppedBeforeStart(cfg *configs.Config, cause error) error {
	st := &Stopped{Err: cause}
	ck := tfgraph.Checkpoints{Dir: runfolder.Dir(cfg.OutputDir).Checkpoints()}
	if steps, err := ck.List(); err == nil && len(steps) > 0 {
		st.Step, st.Checkpoint = steps[len(steps)-1], ck.Prefix(steps[len(steps)-1])
	}
	return st
}

// env is what the training loop and the run's files (outputs) share: the
// config, the schedule, the graph and its session, the result so far.
type env struct {
	cfg        *configs.Config
	opts       Options
	logw       io.Writer
	spe, total int64 // steps per epoch, last step
	ckpts      tfgraph.Checkpoints
	latest     string // newest checkpoint before the run ("" if none; the chief's)
	p          *Pipeline
	enc        Monitor // kNN monitor (nil when off)
	summaries  *tfgraph.SummaryWriter
	sess       *Session
	res        *Result
	meter      meter
}

// run is one pretraining run. Each method is one stage: newRun builds (see
// setup.go), start resumes and opens the files, loop steps, and every step
// may log, checkpoint and run the kNN monitor; finish saves and exports.
// What a process alone and a worker of a data-parallel job do differently
// is co's (solo, replicated); what only the chief writes is out's
// (chiefFiles, workerFiles).
type run struct {
	*env
	co       coordinator
	out      outputs
	ds       *data.Images
	batches  *data.Batcher
	from     int64 // step the run starts from
	skips    int   // non-finite steps skipped so far in the run (metrics.jsonl keeps them across resumes)
	closeFns []func()
}

// meter measures the job's training throughput (every worker's images:
// the workers step together) over the loop and since the last log record.
type meter struct {
	t0, tLog       time.Time
	imgs, sinceLog int
}

func (m *meter) start(now time.Time) { m.t0, m.tLog = now, now }

func (m *meter) add(n int) { m.imgs, m.sinceLog = m.imgs+n, m.sinceLog+n }

// rate is the images per second since start.
func (m *meter) rate() float64 { return float64(m.imgs) / time.Since(m.t0).Seconds() }

// lap is the images per second since the last lap (or start), and starts
// the next one at now.
func (m *meter) lap(now time.Time) float64 {
	ips := float64(m.sinceLog) / now.Sub(m.tLog).Seconds()
	m.tLog, m.sinceLog = now, 0
	return ips
}

// count adds a step's images to the meter: this process's n times the
// workers, whose shards make up the global batch.
func (r *run) count(n int) { r.meter.add(n * r.workers()) }

// workers is the number of processes sharing each global batch.
func (r *run) workers() int {
	if rep := r.co.replicas(); rep != nil {
		return rep.Size()
	}
	return 1
}

// close releases what newRun and start opened, last opened first.
func (r *run) close() {
	for i := len(r.closeFns) - 1; i >= 0; i-- {
		r.closeFns[i]()
	}
	r.closeFns = nil
}

// start restores the newest checkpoint when resuming, agrees with the
// other workers on the start, writes config.yaml and opens metrics.jsonl.
func (r *run) start() error {
	if r.opts.Resume && r.latest != "" {
		if err := r.resume(); err != nil {
			return err
		}
	}
	// Only now: a refused resume leaves no TensorBoard event file.
	if err := r.out.openLogs(); err != nil {
		return err
	}
	skips, err := r.out.resumeSkips(r.from)
	if err != nil {
		return err
	}
	if r.from, r.skips, err = r.co.sync(r.sess, r.p, r.from, skips); err != nil {
		return err
	}
	r.res = &Result{Steps: r.from, KNNTop1: math.NaN(), KNNTop5: math.NaN()}
	return r.out.open(r.res, r.from)
}

// resume checks the newest checkpoint against the graph by name and shape
// (a checkpoint of another architecture is named, not half-loaded) and
// restores it.
func (r *run) resume() error {
	c := model.CheckedRestore{Config: r.cfg, Keys: model.RecordKeys, Vars: r.p.Graph.Variables(), Log: r.logw}
	if err := c.Restore(r.sess.Session, r.p.Saver, r.latest); err != nil {
		return fmt.Errorf("cannot resume from %s: %w", r.latest, err)
	}
	out, err := r.sess.Run(nil, []Output{r.p.GlobalStep.Read()})
	if err != nil {
		return err
	}
	step, err := tfgraph.Int64Scalar(out[0])
	if err != nil {
		return fmt.Errorf("resuming from %s: global step: %w", r.latest, err)
	}
	r.from = step
	fmt.Fprintf(r.logw, "resuming from %s at step %d\n", r.latest, step)
	return nil
}

// loop trains from the start step to the last, then finishes the run. An
// interrupt (ctx done) lets the current step and its logging finish (a kNN
// monitor stops between batches), checkpoints what was trained and returns
// a *Stopped.
func (r *run) loop(ctx context.Context) (*Result, error) {
	if r.from >= r.total {
		r.res.Checkpoint = r.latest
		return r.res, nil
	}
	if r.co.stop(ctx, Stats{}) {
		return r.stopped(ctx)
	}
	dctx := r.co.dataContext(ctx)
	pf, err := r.prefetch(dctx)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	bar := r.progressBar()
	defer bar.Finish()
	r.meter.start(time.Now())
	for step := r.from; step < r.total; step++ {
		batch, err := pf.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return r.stopped(ctx)
			}
			return r.res, err
		}
		stats, err := r.trainStep(ctx, batch, step)
		if err != nil {
			// Nothing is written for a failed step: the last checkpoint stays the newest.
			return r.res, err
		}
		if every := int64(r.cfg.Train.LogEvery); every > 0 && (step+1)%every == 0 {
			if stats.AllReduce, err = r.co.timeAllReduce(r.sess, r.p); err != nil {
				return r.res, err
			}
		}
		bar.Update(step+1, "epoch", fmt.Sprint(step/r.spe+1), "loss", fmt.Sprintf("%.4f", stats.Loss),
			"z_std", fmt.Sprintf("%.3f", stats.ZStd), "lr", fmt.Sprintf("%.4g", stats.LR),
			"img/s", fmt.Sprintf("%.0f", r.meter.rate()))
		if err := r.out.after(dctx, step+1, stats); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return r.stopped(ctx) // the kNN monitor was cut short
			}
			return r.res, err
		}
		if r.opts.StopAfter > 0 && step+1 >= r.opts.StopAfter {
			break
		}
		if r.co.stop(ctx, stats) {
			return r.stopped(ctx)
		}
		if err := r.co.barrier(r.sess, r.p, step+1, step+1 < r.total && r.chiefWorksAfter(step+1)); err != nil {
			return r.res, err
		}
	}
	return r.finish()
}

// prefetch assembles this process's part of the batches from the start
// step to the last, ahead of the steps.
func (r *run) prefetch(ctx context.Context) (*data.Prefetcher, error) {
	o := data.PrefetchOptions{Start: posAt(r.batches, r.from), Steps: int(r.total - r.from), Depth: r.cfg.Data.Prefetch}
	r.co.shard(&o)
	return data.NewPrefetcher(ctx, r.ds, r.batches, o)
}

// progressBar reports the steps every train.log_every (100 when unset).
func (r *run) progressBar() *progress.Bar {
	every := int64(r.cfg.Train.LogEvery)
	if every <= 0 {
		every = 100
	}
	return progress.New(r.out.progress(r.logw), "step", r.total, every)
}

// stopped ends an interrupted run: it checkpoints the steps trained since
// the newest checkpoint, flushes the summaries and returns a *Stopped. An
// interrupt after the last step (in the final kNN monitor) finishes the run
// instead: a resume would have no step left to train and never export.
func (r *run) stopped(ctx context.Context) (*Result, error) {
	if r.res.Steps >= r.total {
		return r.finish()
	}
	cause := ctx.Err()
	if cause == nil {
		cause = errors.New("another worker was stopped")
	}
	ckpt, err := r.out.stop(r.res, r.from)
	if !r.meter.t0.IsZero() {
		r.res.ImagesPerSec = r.meter.rate()
	}
	if err != nil {
		return r.res, fmt.Errorf("stopping at step %d (%w): %w", r.res.Steps, cause, err)
	}
	return r.res, &Stopped{Step: r.res.Steps, Checkpoint: ckpt, Err: cause}
}

// trainStep runs one step on batch; a non-finite step is skipped (and
// recorded) while train.skip_nonfinite_steps allows.
func (r *run) trainStep(ctx context.Context, batch *data.Prefetched, step int64) (Stats, error) {
	feeds, err := r.p.Feeds(batch.Pix, len(batch.Idx), r.ds.H, r.ds.W, r.ds.C, r.cfg.Seed, step)
	if err != nil {
		return Stats{}, err
	}
	stats, err := r.co.step(ctx, r.sess, r.p, feeds, step)
	var nf *NonFiniteError
	if errors.As(err, &nf) {
		if err := r.skip(err, nf, step); err != nil {
			return stats, err
		}
	} else if err != nil {
		return stats, err
	}
	r.count(len(batch.Idx))
	r.res.Steps, r.res.Loss, r.res.ZStd = step+1, stats.Loss, stats.ZStd
	return stats, nil
}

// skip counts the non-finite step nf (err, of 0-based step) against
// train.skip_nonfinite_steps, or fails when the limit is reached. Every
// worker of a job skips the same step (the flags are all-reduced).
func (r *run) skip(err error, nf *NonFiniteError, step int64) error {
	limit := r.cfg.Train.SkipNonfiniteSteps
	if r.skips >= limit {
		if r.skips > 0 {
			return fmt.Errorf("%w; train.skip_nonfinite_steps allows %d and %d were skipped already", err, limit, r.skips)
		}
		return err
	}
	r.skips++
	fmt.Fprintf(r.logw, "step %d: skipped, the %s not finite (loss %v); skip %d of train.skip_nonfinite_steps %d\n",
		nf.Step, nf.Describe(), nf.Loss, r.skips, limit)
	return r.out.skipped(runfolder.SkipRecord{Step: step + 1, Skip: r.skips, NonFinite: nf.Describe(),
		Time: time.Now().UTC().Format(time.RFC3339)})
}

// chiefWorksAfter reports whether the chief checkpoints or runs the kNN
// monitor after global step done (before the next step).
func (r *run) chiefWorksAfter(done int64) bool {
	t := r.cfg.Train
	ckpt := t.CheckpointEvery > 0 && done%int64(t.CheckpointEvery) == 0
	knn := t.KNNEvery > 0 && done%r.spe == 0 && (done/r.spe)%int64(t.KNNEvery) == 0
	return ckpt || knn
}

// finish saves the final checkpoint, flushes the summaries and, when the
// schedule is complete, exports the SavedModel (the chief's files).
func (r *run) finish() (*Result, error) {
	r.res.ImagesPerSec = r.meter.rate()
	return r.res, r.out.finish(r.res)
}
