package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/ctxwait"
	"github.com/simsiam-go/simsiam/internal/progress"
	"github.com/simsiam-go/simsiam/model"
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
	ck := tfgraph.Checkpoints{Dir: filepath.Join(cfg.OutputDir, "checkpoints")}
	if steps, err := ck.List(); err == nil && len(steps) > 0 {
		st.Step, st.Checkpoint = steps[len(steps)-1], ck.Prefix(steps[len(steps)-1])
	}
	return st
}

// run is one pretraining run: its data, graph, session and outputs. Each
// method is one stage: newRun builds, start resumes and opens the logs,
// loop steps, and every step may log, checkpoint and run the kNN monitor;
// finish saves and exports.
type run struct {
	cfg  *configs.Config
	opts Options
	logw io.Writer

	ds            *data.Images
	batches       *data.Batcher
	spe, total    int64 // steps per epoch, last step
	ckpts         tfgraph.Checkpoints
	latest        string // newest checkpoint before the run ("" if none)
	p             *Pipeline
	enc           *eval.Encoder // kNN monitor (nil when off)
	bank, knnTest *data.Images
	summaries     *tfgraph.SummaryWriter
	sess          *Session
	metrics       *os.File
	res           *Result
	from          int64 // step the run starts from
	imgs          int   // images trained on in this process
	t0, tLog      time.Time
	imgsSinceLog  int
	skips         int // non-finite steps skipped so far in the run (metrics.jsonl keeps them across resumes)
	// changes are the config keys a resume changed (printed, then
	// recorded by start); prevConfig is the file they were compared with.
	changes    []configs.Change
	prevConfig string
	closeFns   []func()

	// rep is the data-parallel job this process is a worker of (nil: none);
	// chief is whether it writes the run's files (rank 0, or alone).
	rep   *Replicas
	chief bool
	// abandoned: a collective failed, and closing the session could block
	// (TensorFlow waits for the dead peer): it is left to the process exit.
	abandoned bool
}

// newRun locks and checks the output folder (see prepareOutput), opens the
// data and builds the graph and session on the devices the run uses. On an
// error it releases what it had opened, the lock included.
func newRun(ctx context.Context, cfg *configs.Config, o Options) (_ *run, err error) {
	r := &run{cfg: cfg, opts: o, logw: o.Log, chief: true}
	if r.logw == nil {
		r.logw = io.Discard
	}
	if o.Force && o.Resume {
		return nil, errors.New("--force starts afresh and --resume continues: give one of them")
	}
	if o.Replicas != nil && o.Replicas.Size() > 1 {
		r.rep, r.chief = o.Replicas, o.Replicas.Chief()
		if cfg.Runtime.IntraOpThreads == 1 {
			// Seen here: both workers die of heap corruption in the first step.
			return nil, errors.New("runtime.intra_op_threads 1 crashes TensorFlow 2.18's ring all-reduce (heap corruption in the first step): use 0 or at least 2 with several workers")
		}
		n := r.rep.Size()
		if cfg.Optim.BatchSize%n != 0 || !cfg.Data.DropLast {
			return nil, fmt.Errorf("%d workers: optim.batch_size %d (the global batch) must be a multiple of the worker count and data.drop_last true, so every worker gets batch/%d images every step",
				n, cfg.Optim.BatchSize, n)
		}
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	// Only the chief writes the run's folder (the other workers may share it).
	if r.chief {
		if err := r.prepareOutput(); err != nil {
			return nil, err
		}
	}
	placed, err := preflight(cfg, o.Devices, r.chief)
	if err != nil {
		return nil, err
	}
	// Reading a large data set takes a while: a signal must not wait for it.
	ds, err := ctxwait.Do(ctx, func() (*data.Images, error) { return OpenPretrainData(cfg) })
	if err != nil {
		return nil, err
	}
	b, err := data.NewBatcher(ds.N, cfg.Optim.BatchSize, uint64(cfg.Seed), cfg.Data.DropLast)
	if err != nil {
		return nil, err
	}
	r.ds, r.batches = ds, b
	r.spe = int64(b.StepsPerEpoch())
	if r.spe == 0 {
		return nil, fmt.Errorf("%s: %d images make no batch of %d (lower optim.batch_size or set data.drop_last false)", ds.Source, ds.N, cfg.Optim.BatchSize)
	}
	r.total = r.spe * int64(cfg.Optim.Epochs)
	if cfg.Train.MaxSteps > 0 && int64(cfg.Train.MaxSteps) < r.total {
		r.total = int64(cfg.Train.MaxSteps)
	}
	r.ckpts = tfgraph.Checkpoints{Dir: filepath.Join(cfg.OutputDir, "checkpoints"), Keep: cfg.Train.KeepCheckpoints}
	latestStep := int64(-1) // the step of r.latest
	if r.chief {
		// When resuming: the newest intact checkpoint (see resume.go).
		if r.latest, latestStep, err = r.latestCheckpoint(); err != nil {
			return nil, err
		}
	}
	if o.Resume && r.chief {
		if err := r.compareConfig(); err != nil {
			return nil, err
		}
	}
	if !r.chief {
		// The kNN monitor runs on the chief only.
		c := *cfg
		c.Train.KNNEvery = 0
		cfg = &c
	}
	if cfg.Train.KNNEvery > 0 {
		if r.bank, r.knnTest, err = eval.OpenEvalDataContext(ctx, cfg); err != nil {
			return nil, fmt.Errorf("kNN monitor: %w", err)
		}
	}
	if r.p, r.enc, r.summaries, err = buildRunGraph(placed, r.spe, r.total, r.rep); err != nil {
		return nil, err
	}
	if r.chief {
		exportOnly := o.Resume && latestStep >= r.total
		if err := checkDisk(cfg.OutputDir, r.p.Graph.Variables(), exportOnly, freeBytes); err != nil {
			return nil, err
		}
	}
	so := eval.SessionOptions(cfg.Runtime)
	if r.rep != nil {
		// The session sees only this worker's devices: creating it does not
		// wait for the others, the collectives do.
		so.DeviceFilters = []string{r.rep.Device()}
		so.Target = r.rep.Target
		so.CollectiveNCCL = r.rep.Hint == "nccl"
	}
	if r.sess, err = NewSession(r.p.Step, so); err != nil {
		return nil, err
	}
	r.closeFns = append(r.closeFns, func() {
		if !r.abandoned {
			r.sess.Close()
		}
	})
	if r.enc != nil {
		r.enc.Attach(r.sess.Session)
	}
	return r, nil
}

// prepareOutput locks output_dir for the run, removes what a killed run
// left half-written and, for a fresh run, makes sure the folder holds no
// other run's files (moving them aside with Force).
func (r *run) prepareOutput() error {
	dir := r.cfg.OutputDir
	lock, err := lockOutput(dir)
	if err != nil {
		return err
	}
	r.closeFns = append(r.closeFns, func() { unlockOutput(lock) })
	removed, restored, err := removeLeftovers(dir)
	if len(restored) > 0 {
		fmt.Fprintf(r.logw, "restored the SavedModel an interrupted export had moved aside in %s: %s\n", dir, strings.Join(restored, ", "))
	}
	if err != nil {
		return fmt.Errorf("removing temporary files of a killed run in %s: %w", dir, err)
	}
	if len(removed) > 0 {
		fmt.Fprintf(r.logw, "removed temporary files of an interrupted write in %s: %s\n", dir, strings.Join(removed, ", "))
	}
	if r.opts.Resume {
		return nil
	}
	found, err := findArtifacts(dir)
	if err != nil || len(found) == 0 {
		return err
	}
	if !r.opts.Force {
		return fmt.Errorf("output_dir %s already holds another run's files (%s): pass --resume to continue that run, or --force to move them into %s/.replaced-TIME/ and start afresh (or choose another output_dir)",
			dir, strings.Join(found, ", "), dir)
	}
	aside, err := moveAside(dir, found, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(r.logw, "--force: moved %s into %s\n", strings.Join(found, ", "), aside)
	return nil
}

// compareConfig checks a resume's config against the run's newest saved
// one and the checkpoint's record (see checkResume) and prints every
// change it makes.
func (r *run) compareConfig() error {
	prev, path, err := readPrevConfig(r.cfg.OutputDir)
	if err != nil {
		return err
	}
	changes, err := r.checkResume(prev) // and the checkpoint's record
	if err != nil || prev == nil {
		return err
	}
	for _, c := range changes {
		fmt.Fprintf(r.logw, "--resume: %s changed: %s (%s) -> %s\n", c.Key, c.From, filepath.Base(path), c.To)
	}
	r.changes, r.prevConfig = changes, path
	return nil
}

// writeConfig saves the effective config: config.yaml for a new run (or
// a resumed one that had none); for a resume that changed keys, the next
// config.resume-N.yaml and a line in config-history.jsonl, so config.yaml
// keeps saying how the first checkpoints were made.
func (r *run) writeConfig() error {
	path := filepath.Join(r.cfg.OutputDir, "config.yaml")
	if r.opts.Resume && r.prevConfig != "" {
		if len(r.changes) == 0 {
			return nil
		}
		saved, err := recordChanges(r.cfg, r.from, r.changes, time.Now())
		if err != nil {
			return fmt.Errorf("recording the config changes: %w", err)
		}
		fmt.Fprintf(r.logw, "--resume: the new effective config is %s (changes recorded in %s)\n", saved, HistoryFile)
		return nil
	}
	yml, err := r.cfg.YAML()
	if err != nil {
		return err
	}
	return tfgraph.WriteFileAtomic(path, yml)
}

// close releases what newRun and start opened, last opened first.
func (r *run) close() {
	for i := len(r.closeFns) - 1; i >= 0; i-- {
		r.closeFns[i]()
	}
	r.closeFns = nil
}

// start restores the newest checkpoint when resuming, writes config.yaml
// and opens metrics.jsonl.
func (r *run) start() error {
	if r.opts.Resume && r.latest != "" {
		if err := r.resume(); err != nil {
			return err
		}
	}
	if err := r.initSummaries(); err != nil {
		return err
	}
	mpath := filepath.Join(r.cfg.OutputDir, "metrics.jsonl")
	if r.opts.Resume && r.chief {
		// The records after the checkpoint's step are trained again. The
		// skips before it count against the limit, on every worker (sync).
		dropped, unreadable, err := trimMetrics(mpath, r.from)
		if err != nil {
			return err
		}
		if dropped+unreadable > 0 {
			fmt.Fprintf(r.logw, "metrics.jsonl: dropped %d records after step %d and %d unreadable lines\n", dropped, r.from, unreadable)
		}
		if r.skips, err = countSkips(mpath); err != nil {
			return err
		}
		if r.skips > 0 {
			fmt.Fprintf(r.logw, "metrics.jsonl: %d non-finite steps skipped before step %d (train.skip_nonfinite_steps %d)\n", r.skips, r.from, r.cfg.Train.SkipNonfiniteSteps)
		}
	}
	if r.rep != nil {
		if err := r.sync(); err != nil {
			return err
		}
	}
	r.res = &Result{Steps: r.from, KNNTop1: math.NaN(), KNNTop5: math.NaN()}
	if !r.chief {
		if r.opts.Resume && r.from >= r.total {
			r.res.AlreadyComplete = true
		}
		return nil
	}
	if err := os.MkdirAll(r.cfg.OutputDir, 0o755); err != nil {
		return err
	}
	if err := r.writeConfig(); err != nil {
		return err
	}
	var err error
	r.metrics, err = os.OpenFile(mpath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	r.closeFns = append(r.closeFns, func() { r.metrics.Close() })
	if r.latest != "" && r.from >= r.total {
		return r.complete()
	}
	if r.opts.Resume {
		// TensorBoard drops the older files' events from this step on: the
		// steps after the checkpoint, which this run logs again.
		return r.summaries.SessionStart(r.sess.Session, r.from+1)
	}
	return nil
}

// sync waits for every worker and gives each the chief's variables, global
// step included (its data position follows from it), and the chief's count
// of skipped non-finite steps (only the chief reads metrics.jsonl).
func (r *run) sync() error {
	fmt.Fprintf(r.logw, "worker %d of %d: waiting up to %g s for the other workers (runtime.barrier_timeout_s)\n", r.rep.Rank, r.rep.Size(), r.rep.BarrierTimeout)
	t0 := time.Now()
	feeds := map[Output]*tfgraph.Tensor{}
	if r.chief {
		t, err := tfgraph.NewTensor(float64(r.skips))
		if err != nil {
			return err
		}
		feeds[r.p.SkipsIn] = t
	}
	synced, err := r.sess.Run(feeds, []Output{r.p.SkipsOut}, r.p.Sync)
	if err != nil {
		r.abandoned = true
		return r.rep.collectiveError("the start barrier", true, err)
	}
	skips, ok := synced[0].Value().(float64)
	if !ok || skips < 0 || skips != math.Trunc(skips) {
		return fmt.Errorf("the start barrier: the chief's count of skipped steps is %v, want a whole number", synced[0].Value())
	}
	if !r.chief && skips > 0 {
		fmt.Fprintf(r.logw, "worker %d of %d: the chief's metrics.jsonl counts %d non-finite steps skipped (train.skip_nonfinite_steps %d)\n", r.rep.Rank, r.rep.Size(), int(skips), r.cfg.Train.SkipNonfiniteSteps)
	}
	r.skips = int(skips)
	out, err := r.sess.Run(nil, []Output{r.p.GlobalStep.Read()})
	if err != nil {
		return err
	}
	if r.from, err = tfgraph.Int64Scalar(out[0]); err != nil {
		return fmt.Errorf("global step: %w", err)
	}
	fmt.Fprintf(r.logw, "worker %d of %d: all workers joined after %.1f s; starting at step %d with the chief's weights\n", r.rep.Rank, r.rep.Size(), time.Since(t0).Seconds(), r.from)
	return nil
}

// barrier waits for every worker (while the chief checkpoints or runs the
// kNN monitor, which may take longer than a step's all-reduce timeout).
func (r *run) barrier(done int64) error {
	err := r.rep.watch(fmt.Sprintf("the barrier after step %d", done), true, func() error {
		_, err := r.sess.Run(nil, []Output{r.p.Barrier})
		return err
	})
	if err != nil {
		r.abandoned = true
	}
	return err
}

// complete finishes a resumed run that had already reached its last step:
// nothing is trained, and a SavedModel missing because the final export
// failed or was killed is exported now.
func (r *run) complete() error {
	r.res.AlreadyComplete = true
	r.res.Checkpoint = r.latest
	fmt.Fprintf(r.logw, "the run is already complete (step %d of %d): nothing to train\n", r.from, r.total)
	dir := filepath.Join(r.cfg.OutputDir, "saved_model")
	if _, err := os.Stat(filepath.Join(dir, tfgraph.SavedModelFile)); err == nil {
		from := exportedFrom(dir)
		if from == filepath.Base(r.latest) {
			r.res.SavedModel = dir
			return nil
		}
		// A SavedModel restored from before a killed export holds an
		// earlier checkpoint (or its metadata is unreadable): export the
		// final one over it.
		fmt.Fprintf(r.logw, "saved_model/ holds %s, not the final %s: exporting it again\n", orUnknown(from), filepath.Base(r.latest))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	} else {
		fmt.Fprintf(r.logw, "saved_model/ is missing: exporting it from %s\n", filepath.Base(r.latest))
	}
	if err := export.Export(r.cfg, r.latest, dir, true); err != nil {
		return fmt.Errorf("exporting the SavedModel: %w", err)
	}
	r.res.SavedModel = dir
	return nil
}

// exportedFrom returns the base name of the checkpoint the SavedModel dir
// was exported from (its assets.extra metadata), or "" if that is
// unreadable.
func exportedFrom(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "assets.extra", export.MetadataFile))
	if err != nil {
		return ""
	}
	var m export.Metadata
	if json.Unmarshal(b, &m) != nil || m.Checkpoint == "" {
		return ""
	}
	return filepath.Base(m.Checkpoint)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown checkpoint"
	}
	return s
}

// resume checks the newest checkpoint against the graph by name and shape
// (a checkpoint of another architecture is named, not half-loaded) and
// restores it.
func (r *run) resume() error {
	note, err := model.CheckRecord(r.latest, r.cfg, model.RecordKeys)
	if err != nil {
		return fmt.Errorf("cannot resume: %w", err)
	}
	if note != "" {
		fmt.Fprintln(r.logw, note)
	}
	if err := tfgraph.CheckCompatible(r.latest, r.p.Graph.Variables()); err != nil {
		return fmt.Errorf("cannot resume from %s: %w", r.latest, err)
	}
	if err := r.p.Saver.RestoreFrom(r.sess.Session, r.latest); err != nil {
		return err
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
	// Workers of a data-parallel job stop together: a signal only sets the
	// stop flag of the next step's all-reduce, and the data and the kNN
	// monitor are not cut short by it (dctx).
	dctx := ctx
	if r.rep != nil {
		dctx = context.WithoutCancel(ctx)
	} else if ctx.Err() != nil {
		return r.stopped(ctx)
	}
	popts := data.PrefetchOptions{Start: posAt(r.batches, r.from), Steps: int(r.total - r.from), Depth: r.cfg.Data.Prefetch}
	if r.rep != nil {
		popts.Shard, popts.Shards = r.rep.Rank, r.rep.Size()
	}
	pf, err := data.NewPrefetcher(dctx, r.ds, r.batches, popts)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	every := int64(r.cfg.Train.LogEvery)
	if every <= 0 {
		every = 100
	}
	barw := r.logw
	if !r.chief {
		barw = io.Discard // the chief reports the job's progress
	}
	bar := progress.New(barw, "step", r.total, every)
	defer bar.Finish()
	r.t0 = time.Now()
	r.tLog = r.t0
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
		bar.Update(step+1, "epoch", fmt.Sprint(step/r.spe+1), "loss", fmt.Sprintf("%.4f", stats.Loss),
			"z_std", fmt.Sprintf("%.3f", stats.ZStd), "lr", fmt.Sprintf("%.4g", stats.LR),
			"img/s", fmt.Sprintf("%.0f", float64(r.imgs)/time.Since(r.t0).Seconds()))
		if err := r.afterStep(dctx, step+1, stats); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return r.stopped(ctx) // the kNN monitor was cut short
			}
			return r.res, err
		}
		if r.opts.StopAfter > 0 && step+1 >= r.opts.StopAfter {
			break
		}
		if r.rep != nil {
			if stats.Stop {
				return r.stopped(ctx)
			}
			if step+1 < r.total && r.chiefWorksAfter(step+1) {
				if err := r.barrier(step + 1); err != nil {
					return r.res, err
				}
			}
			continue
		}
		if ctx.Err() != nil {
			return r.stopped(ctx)
		}
	}
	return r.finish()
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
	if !r.chief {
		// The chief checkpoints this same step.
		return r.res, &Stopped{Step: r.res.Steps, Checkpoint: r.ckpts.Prefix(r.res.Steps), Err: cause}
	}
	var errs []error
	if r.res.Steps > r.from && r.res.Checkpoint != r.ckpts.Prefix(r.res.Steps) {
		if err := r.save(r.res.Steps); err != nil {
			errs = append(errs, err)
		}
	} else if r.res.Checkpoint == "" {
		r.res.Checkpoint = r.latest
	}
	if err := r.summaries.Flush(r.sess.Session); err != nil {
		errs = append(errs, err)
	}
	if !r.t0.IsZero() {
		r.res.ImagesPerSec = float64(r.imgs) / time.Since(r.t0).Seconds()
	}
	if len(errs) > 0 {
		return r.res, fmt.Errorf("stopping at step %d (%w): %w", r.res.Steps, cause, errors.Join(errs...))
	}
	return r.res, &Stopped{Step: r.res.Steps, Checkpoint: r.res.Checkpoint, Err: cause}
}

// trainStep runs one step on batch. A worker of a data-parallel job asks
// the others to stop after it when ctx is done.
func (r *run) trainStep(ctx context.Context, batch *data.Prefetched, step int64) (Stats, error) {
	feeds, err := r.p.Feeds(batch.Pix, len(batch.Idx), r.ds.H, r.ds.W, r.ds.C, r.cfg.Seed, step)
	if err != nil {
		return Stats{}, err
	}
	if r.rep != nil {
		stop := float32(0)
		if ctx.Err() != nil {
			stop = 1
		}
		if feeds[r.p.Stop], err = tfgraph.NewTensor(stop); err != nil {
			return Stats{}, err
		}
	}
	var stats Stats
	if r.rep == nil {
		stats, err = r.sess.TrainStep(feeds)
	} else {
		var stepErr error // a finiteness error, the same on every worker
		err = r.rep.watch(fmt.Sprintf("step %d", step+1), false, func() error {
			var err error
			if stats, err = r.sess.TrainStep(feeds); err != nil && !errors.Is(err, errStepRun) {
				stepErr = err
				return nil
			}
			return err
		})
		if err != nil {
			r.abandoned = true
			return Stats{}, err // the Run may still be going: leave its stats
		}
		err = stepErr
	}
	var nf *NonFiniteError
	if errors.As(err, &nf) {
		if r.skips >= r.cfg.Train.SkipNonfiniteSteps {
			if r.skips > 0 {
				return stats, fmt.Errorf("%w; train.skip_nonfinite_steps allows %d and %d were skipped already", err, r.cfg.Train.SkipNonfiniteSteps, r.skips)
			}
			return stats, err
		}
		r.skips++
		fmt.Fprintf(r.logw, "step %d: skipped, the %s not finite (loss %v); skip %d of train.skip_nonfinite_steps %d\n",
			nf.Step, nf.Describe(), nf.Loss, r.skips, r.cfg.Train.SkipNonfiniteSteps)
		if r.chief { // the other workers of a job skip the same step (the flags are all-reduced)
			if err := writeJSONLine(r.metrics, map[string]any{"step": step + 1, "nonfinite_skip": r.skips, "nonfinite": nf.Describe(),
				"time": time.Now().UTC().Format(time.RFC3339)}); err != nil {
				return stats, err
			}
		}
	} else if err != nil {
		return stats, err
	}
	r.imgs += len(batch.Idx)
	r.imgsSinceLog += len(batch.Idx)
	r.res.Steps, r.res.Loss, r.res.ZStd = step+1, stats.Loss, stats.ZStd
	return stats, nil
}

// chiefWorksAfter reports whether the chief checkpoints or runs the kNN
// monitor after global step done (before the next step).
func (r *run) chiefWorksAfter(done int64) bool {
	t := r.cfg.Train
	ckpt := t.CheckpointEvery > 0 && done%int64(t.CheckpointEvery) == 0
	knn := t.KNNEvery > 0 && done%r.spe == 0 && (done/r.spe)%int64(t.KNNEvery) == 0
	return ckpt || knn
}

// afterStep does what is due after global step done: the log record, a
// checkpoint, the kNN monitor at the end of an epoch (which stops early
// when ctx is done).
func (r *run) afterStep(ctx context.Context, done int64, stats Stats) error {
	if !r.chief {
		return nil
	}
	t := r.cfg.Train
	if ((t.LogEvery > 0 && done%int64(t.LogEvery) == 0) || done == r.total) && !nonFiniteStats(stats) {
		if err := r.logStep(done, stats); err != nil {
			return err
		}
	}
	if t.CheckpointEvery > 0 && done%int64(t.CheckpointEvery) == 0 && done < r.total {
		if err := r.save(done); err != nil {
			return err
		}
	}
	if r.enc != nil && done%r.spe == 0 && (done/r.spe)%int64(t.KNNEvery) == 0 {
		return r.monitor(ctx, done)
	}
	return nil
}

// logStep writes one metrics.jsonl record and the TensorBoard scalars.
func (r *run) logStep(done int64, stats Stats) error {
	now := time.Now()
	ips := float64(r.imgsSinceLog) / now.Sub(r.tLog).Seconds()
	rec := map[string]any{"step": done, "epoch": float64(done) / float64(r.spe), "loss": stats.Loss,
		"z_std": stats.ZStd, "lr": stats.LR, "images_per_sec": ips, "time": now.UTC().Format(time.RFC3339)}
	if stats.LossScale > 0 {
		rec["loss_scale"] = stats.LossScale
	}
	if err := writeJSONLine(r.metrics, rec); err != nil {
		return err
	}
	if err := r.summaries.Scalars(r.sess.Session, done, map[string]float32{"loss": stats.Loss, "lr": stats.LR,
		"z_std": stats.ZStd, "images_per_sec": float32(ips)}); err != nil {
		return err
	}
	r.tLog, r.imgsSinceLog = now, 0
	return nil
}

// monitor runs the kNN monitor on the live weights after global step done.
func (r *run) monitor(ctx context.Context, done int64) error {
	t := r.cfg.Train
	t1, t5, err := r.enc.KNN(ctx, r.bank, r.knnTest, t.KNNK, t.KNNTemperature)
	if err != nil {
		return fmt.Errorf("kNN monitor: %w", err)
	}
	r.res.KNNTop1, r.res.KNNTop5 = t1, t5
	fmt.Fprintf(r.logw, "epoch %d: kNN top-1 %.2f%% top-5 %.2f%% (k=%d, T=%g, %d test images)\n",
		done/r.spe, 100*t1, 100*t5, t.KNNK, t.KNNTemperature, r.knnTest.N)
	rec := map[string]any{"step": done, "epoch": done / r.spe, "knn_top1": t1}
	vals := map[string]float32{"knn_top1": float32(t1)}
	if !math.IsNaN(t5) {
		rec["knn_top5"], vals["knn_top5"] = t5, float32(t5)
	}
	if err := writeJSONLine(r.metrics, rec); err != nil {
		return err
	}
	return r.summaries.Scalars(r.sess.Session, done, vals)
}

// save writes the checkpoint of global step and makes it the newest.
func (r *run) save(step int64) error {
	prefix := r.ckpts.Prefix(step)
	if err := r.p.Saver.Save(r.sess.Session, prefix); err != nil {
		return err
	}
	r.res.Checkpoint = prefix
	return r.ckpts.Commit(step)
}

// finish saves the final checkpoint, flushes the summaries and, when the
// schedule is complete, exports the SavedModel.
func (r *run) finish() (*Result, error) {
	r.res.ImagesPerSec = float64(r.imgs) / time.Since(r.t0).Seconds()
	if !r.chief {
		r.res.Checkpoint = r.ckpts.Prefix(r.res.Steps) // the chief's
		return r.res, nil
	}
	if err := r.save(r.res.Steps); err != nil {
		return r.res, err
	}
	if err := r.summaries.Flush(r.sess.Session); err != nil {
		return r.res, err
	}
	if r.res.Steps >= r.total {
		dir := filepath.Join(r.cfg.OutputDir, "saved_model")
		if err := export.Export(r.cfg, r.res.Checkpoint, dir, true); err != nil {
			return r.res, fmt.Errorf("exporting the SavedModel: %w", err)
		}
		r.res.SavedModel = dir
	}
	return r.res, nil
}
