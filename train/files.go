package train

// The files of a run, which only the chief writes: the config, metrics.jsonl,
// the TensorBoard summaries, the checkpoints, the kNN monitor's records and
// the SavedModel.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// outputs are the files of a run, stage by stage: chiefFiles writes them,
// workerFiles (a worker of a job other than the chief) writes nothing.
type outputs interface {
	// checkSpace refuses a run whose output_dir lacks the room for what
	// it writes (vars are the graph's variables).
	checkSpace(vars []*tfgraph.Variable) error
	// openLogs initialises the TensorBoard summaries in the session.
	openLogs() error
	// close closes metrics.jsonl and the summaries (not these when the
	// session was abandoned).
	close(abandoned bool)
	// progress is where the progress bar goes (the chief reports the
	// job's).
	progress(w io.Writer) io.Writer
	// resumeSkips trims metrics.jsonl to the step a resume starts from
	// and counts the non-finite steps skipped before it.
	resumeSkips(from int64) (int, error)
	// open writes the effective config and opens metrics.jsonl before the
	// first step (from); a resumed run that is complete only exports.
	open(res *Result, from int64) error
	// skipped records a skipped non-finite step.
	skipped(rec runfolder.SkipRecord) error
	// after does what is due after global step done: the log record, a
	// checkpoint, the kNN monitor at the end of an epoch (which stops
	// early when ctx is done).
	after(ctx context.Context, done int64, stats Stats) error
	// stop checkpoints what an interrupted run trained since from and
	// flushes the summaries; it returns the checkpoint to resume from.
	stop(res *Result, from int64) (string, error)
	// finish saves the final checkpoint, flushes the summaries and, when
	// the schedule is complete, exports the SavedModel.
	finish(res *Result) error
}

// chiefFiles are the files of the process that writes the run's folder.
type chiefFiles struct {
	*env
	dir        runfolder.Dir
	latestStep int64 // the step of env.latest (-1: none)
	// bank and knnTest are the kNN monitor's data (nil when off).
	bank, knnTest *data.Images
	// changes are the config keys a resume changed (printed, then
	// recorded by open); prevConfig is the file they were compared with.
	changes    []configs.Change
	prevConfig string
	metrics    *os.File
}

// newChiefFiles compares a resume's config with the run's, finds the
// newest checkpoint (env.latest) and opens the kNN monitor's data.
func newChiefFiles(ctx context.Context, e *env) (*chiefFiles, error) {
	c := &chiefFiles{env: e, dir: runfolder.Dir(e.cfg.OutputDir), latestStep: -1}
	var err error
	// When resuming: the newest intact checkpoint (see resume.go).
	if e.latest, c.latestStep, err = e.latestCheckpoint(); err != nil {
		return nil, err
	}
	if e.opts.Resume {
		if err := c.compareConfig(); err != nil {
			return nil, err
		}
	}
	if e.cfg.Train.KNNEvery > 0 {
		if c.bank, c.knnTest, err = e.opts.openMonitorData(ctx, e.cfg); err != nil {
			return nil, fmt.Errorf("kNN monitor: %w", err)
		}
	}
	return c, nil
}

// compareConfig checks a resume's config against the run's newest saved
// one and the checkpoint's record (see checkResume) and prints every
// change it makes.
func (c *chiefFiles) compareConfig() error {
	prev, path, err := readPrevConfig(c.cfg.OutputDir)
	if err != nil {
		return err
	}
	changes, err := c.checkResume(prev) // and the checkpoint's record
	if err != nil || prev == nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(c.logw, "--resume: %s changed: %s (%s) -> %s\n", ch.Key, ch.From, filepath.Base(path), ch.To)
	}
	c.changes, c.prevConfig = changes, path
	return nil
}

// checkSpace: a resume of a run that reached its last step only exports.
func (c *chiefFiles) checkSpace(vars []*tfgraph.Variable) error {
	exportOnly := c.opts.Resume && c.latestStep >= c.total
	return checkDisk(c.cfg.OutputDir, vars, exportOnly, freeBytes)
}

func (c *chiefFiles) openLogs() error { return c.summaries.Init(c.sess.Session) }

func (c *chiefFiles) close(abandoned bool) {
	if c.metrics != nil {
		c.metrics.Close()
	}
	if !abandoned {
		c.summaries.Close(c.sess.Session)
	}
}

func (c *chiefFiles) progress(w io.Writer) io.Writer { return w }

// resumeSkips: the records after the checkpoint's step are trained again.
// The skips before it count against the limit, on every worker (sync).
func (c *chiefFiles) resumeSkips(from int64) (int, error) {
	if !c.opts.Resume {
		return 0, nil
	}
	mpath := c.dir.Metrics()
	dropped, unreadable, err := trimMetrics(mpath, from)
	if err != nil {
		return 0, err
	}
	if dropped+unreadable > 0 {
		fmt.Fprintf(c.logw, "%s: dropped %d records after step %d and %d unreadable lines\n", runfolder.MetricsName, dropped, from, unreadable)
	}
	skips, err := countSkips(mpath)
	if err != nil {
		return 0, err
	}
	if skips > 0 {
		fmt.Fprintf(c.logw, "%s: %d non-finite steps skipped before step %d (train.skip_nonfinite_steps %d)\n", runfolder.MetricsName, skips, from, c.cfg.Train.SkipNonfiniteSteps)
	}
	return skips, nil
}

func (c *chiefFiles) open(res *Result, from int64) error {
	if err := os.MkdirAll(c.cfg.OutputDir, 0o755); err != nil {
		return err
	}
	if err := c.writeConfig(from); err != nil {
		return err
	}
	var err error
	c.metrics, err = os.OpenFile(c.dir.Metrics(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if c.latest != "" && from >= c.total {
		return c.complete(res, from)
	}
	if c.opts.Resume {
		// TensorBoard drops the older files' events from this step on: the
		// steps after the checkpoint, which this run logs again.
		return c.summaries.SessionStart(c.sess.Session, from+1)
	}
	return nil
}

// writeConfig saves the effective config: config.yaml for a new run (or
// a resumed one that had none); for a resume from step from that changed
// keys, the next config.resume-N.yaml and a line in config-history.jsonl,
// so config.yaml keeps saying how the first checkpoints were made.
func (c *chiefFiles) writeConfig(from int64) error {
	if c.opts.Resume && c.prevConfig != "" {
		if len(c.changes) == 0 {
			return nil
		}
		saved, err := recordChanges(c.cfg, from, c.changes, time.Now())
		if err != nil {
			return fmt.Errorf("recording the config changes: %w", err)
		}
		fmt.Fprintf(c.logw, "--resume: the new effective config is %s (changes recorded in %s)\n", saved, runfolder.HistoryName)
		return nil
	}
	yml, err := c.cfg.YAML()
	if err != nil {
		return err
	}
	return tfgraph.WriteFileAtomic(c.dir.Config(), yml)
}

// complete finishes a resumed run that had already reached its last step
// (from): nothing is trained, and a SavedModel missing because the final
// export failed or was killed is exported now.
func (c *chiefFiles) complete(res *Result, from int64) error {
	res.AlreadyComplete = true
	res.Checkpoint = c.latest
	fmt.Fprintf(c.logw, "the run is already complete (step %d of %d): nothing to train\n", from, c.total)
	if c.opts.Export == nil {
		return nil // no SavedModel wanted
	}
	dir := c.dir.SavedModel()
	if _, err := os.Stat(filepath.Join(dir, tfgraph.SavedModelFile)); err == nil {
		exported := exportedFrom(c.opts.Export, dir)
		if exported == filepath.Base(c.latest) {
			res.SavedModel = dir
			return nil
		}
		// A SavedModel restored from before a killed export holds an
		// earlier checkpoint (or its metadata is unreadable): export the
		// final one over it.
		fmt.Fprintf(c.logw, "%s/ holds %s, not the final %s: exporting it again\n", runfolder.SavedModelName, orUnknown(exported), filepath.Base(c.latest))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	} else {
		fmt.Fprintf(c.logw, "%s/ is missing: exporting it from %s\n", runfolder.SavedModelName, filepath.Base(c.latest))
	}
	if err := c.opts.Export.Export(c.cfg, c.latest, dir); err != nil {
		return fmt.Errorf("exporting the SavedModel: %w", err)
	}
	res.SavedModel = dir
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown checkpoint"
	}
	return s
}

func (c *chiefFiles) skipped(rec runfolder.SkipRecord) error {
	return runfolder.WriteRecord(c.metrics, rec)
}

func (c *chiefFiles) after(ctx context.Context, done int64, stats Stats) error {
	t := c.cfg.Train
	if ((t.LogEvery > 0 && done%int64(t.LogEvery) == 0) || done == c.total) && !nonFiniteStats(stats) {
		if err := c.logStep(done, stats); err != nil {
			return err
		}
	}
	if t.CheckpointEvery > 0 && done%int64(t.CheckpointEvery) == 0 && done < c.total {
		if err := c.save(done); err != nil {
			return err
		}
	}
	if c.enc != nil && done%c.spe == 0 && (done/c.spe)%int64(t.KNNEvery) == 0 {
		return c.monitor(ctx, done)
	}
	return nil
}

// logStep writes one metrics.jsonl record and the TensorBoard scalars.
func (c *chiefFiles) logStep(done int64, stats Stats) error {
	now := time.Now()
	ips := c.meter.lap(now)
	rec := runfolder.StepRecord{Step: done, Epoch: float64(done) / float64(c.spe), Loss: stats.Loss,
		ZStd: stats.ZStd, LR: stats.LR, ImagesPerSec: ips, Time: now.UTC().Format(time.RFC3339)}
	if stats.LossScale > 0 {
		rec.LossScale = stats.LossScale
	}
	scalars := map[string]float32{"loss": stats.Loss, "lr": stats.LR, "z_std": stats.ZStd, "images_per_sec": float32(ips)}
	if stats.AllReduce > 0 && ips > 0 {
		stepSec := float64(c.cfg.Optim.BatchSize) / ips
		rec.AllReduceMillis = float64(stats.AllReduce.Microseconds()) / 1000
		rec.AllReduceShare = min(stats.AllReduce.Seconds()/stepSec, 1)
		scalars["allreduce_share"] = float32(rec.AllReduceShare)
	}
	if err := runfolder.WriteRecord(c.metrics, rec); err != nil {
		return err
	}
	return c.summaries.Scalars(c.sess.Session, done, scalars)
}

// monitor runs the kNN monitor on the live weights after global step done.
func (c *chiefFiles) monitor(ctx context.Context, done int64) error {
	t := c.cfg.Train
	t1, t5, err := c.enc.KNN(ctx, c.bank, c.knnTest, t.KNNK, t.KNNTemperature)
	if err != nil {
		return fmt.Errorf("kNN monitor: %w", err)
	}
	c.res.KNNTop1, c.res.KNNTop5 = t1, t5
	fmt.Fprintf(c.logw, "epoch %d: kNN top-1 %.2f%% top-5 %.2f%% (k=%d, T=%g, %d test images)\n",
		done/c.spe, 100*t1, 100*t5, t.KNNK, t.KNNTemperature, c.knnTest.N)
	rec := runfolder.KNNRecord{Step: done, Epoch: done / c.spe, KNNTop1: t1}
	vals := map[string]float32{"knn_top1": float32(t1)}
	if !math.IsNaN(t5) {
		rec.KNNTop5, vals["knn_top5"] = &t5, float32(t5)
	}
	if err := runfolder.WriteRecord(c.metrics, rec); err != nil {
		return err
	}
	return c.summaries.Scalars(c.sess.Session, done, vals)
}

// save writes the checkpoint of global step and makes it the newest.
func (c *chiefFiles) save(step int64) error {
	prefix := c.ckpts.Prefix(step)
	if err := c.p.Saver.Save(c.sess.Session, prefix); err != nil {
		return err
	}
	c.res.Checkpoint = prefix
	return c.ckpts.Commit(step)
}

func (c *chiefFiles) stop(res *Result, from int64) (string, error) {
	var errs []error
	if res.Steps > from && res.Checkpoint != c.ckpts.Prefix(res.Steps) {
		if err := c.save(res.Steps); err != nil {
			errs = append(errs, err)
		}
	} else if res.Checkpoint == "" {
		res.Checkpoint = c.latest
	}
	if err := c.summaries.Flush(c.sess.Session); err != nil {
		errs = append(errs, err)
	}
	return res.Checkpoint, errors.Join(errs...)
}

func (c *chiefFiles) finish(res *Result) error {
	if err := c.save(res.Steps); err != nil {
		return err
	}
	if err := c.summaries.Flush(c.sess.Session); err != nil {
		return err
	}
	if res.Steps >= c.total && c.opts.Export != nil {
		dir := c.dir.SavedModel()
		if err := c.opts.Export.Export(c.cfg, res.Checkpoint, dir); err != nil {
			return fmt.Errorf("exporting the SavedModel: %w", err)
		}
		res.SavedModel = dir
	}
	return nil
}
