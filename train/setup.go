package train

// The stages that set a run up: the output folder, the data, the chief's
// files, the graph and the session.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/ctxwait"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// newRun locks and checks the output folder (see openOutput), opens the
// data and builds the graph and session on the devices the run uses. On an
// error it releases what it had opened, the lock included. Only the chief
// writes the run's folder (the other workers may share it).
func newRun(ctx context.Context, cfg *configs.Config, o Options) (_ *run, err error) {
	co, err := newCoordinator(cfg, o)
	if err != nil {
		return nil, err
	}
	r := &run{env: &env{cfg: cfg, opts: o, logw: orDiscard(o.Log)}, co: co}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if err := r.openOutput(); err != nil {
		return nil, err
	}
	placed, err := preflight(cfg, o.Devices, co.chief())
	if err != nil {
		return nil, err
	}
	if err := r.loadData(ctx); err != nil {
		return nil, err
	}
	if err := r.openFiles(ctx); err != nil {
		return nil, err
	}
	if err := r.buildGraph(placed); err != nil {
		return nil, err
	}
	if err := r.openSession(); err != nil {
		return nil, err
	}
	return r, nil
}

// openOutput locks output_dir for the chief, removes what a killed run
// left half-written and, for a fresh run, makes sure the folder holds no
// other run's files (moving them aside with Force).
func (r *run) openOutput() error {
	if !r.co.chief() {
		return nil
	}
	dir := runfolder.Dir(r.cfg.OutputDir)
	lock, err := dir.Lock()
	if err != nil {
		return err
	}
	r.closeFns = append(r.closeFns, lock.Unlock)
	if err := r.tidyOutput(string(dir)); err != nil || r.opts.Resume {
		return err
	}
	found, err := dir.FindArtifacts()
	if err != nil || len(found) == 0 {
		return err
	}
	if !r.opts.Force {
		return fmt.Errorf("output_dir %s already holds another run's files (%s): pass --resume to continue that run, or --force to move them into %s/%sTIME/ and start afresh (or choose another output_dir)",
			dir, strings.Join(found, ", "), dir, runfolder.ReplacedPrefix)
	}
	aside, err := dir.MoveAside(found, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(r.logw, "--force: moved %s into %s\n", strings.Join(found, ", "), aside)
	return nil
}

// tidyOutput removes the temporary files of a killed write in dir and puts
// back a SavedModel a killed export had moved aside, saying so.
func (r *run) tidyOutput(dir string) error {
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
	return nil
}

// loadData opens the pretraining data (a signal does not wait for it) and
// fixes the schedule: steps per epoch and the last step.
func (r *run) loadData(ctx context.Context) error {
	cfg := r.cfg
	ds, err := ctxwait.Do(ctx, func() (*data.Images, error) { return OpenPretrainData(cfg) })
	if err != nil {
		return err
	}
	b, err := data.NewBatcher(ds.N, cfg.Optim.BatchSize, uint64(cfg.Seed), cfg.Data.DropLast)
	if err != nil {
		return err
	}
	r.ds, r.batches = ds, b
	r.spe = int64(b.StepsPerEpoch())
	if r.spe == 0 {
		return fmt.Errorf("%s: %d images make no batch of %d (lower optim.batch_size or set data.drop_last false)", ds.Source, ds.N, cfg.Optim.BatchSize)
	}
	r.total = lastStep(cfg, r.spe)
	return nil
}

// openFiles prepares the run's files: the chief's compare a resume's
// config, find the checkpoint to resume from and open the kNN monitor's
// data; the other workers' write nothing.
func (r *run) openFiles(ctx context.Context) error {
	r.ckpts = tfgraph.Checkpoints{Dir: runfolder.Dir(r.cfg.OutputDir).Checkpoints(), Keep: r.cfg.Train.KeepCheckpoints}
	if !r.co.chief() {
		r.out = workerFiles{ckpts: r.ckpts, resume: r.opts.Resume, total: r.total}
		return nil
	}
	c, err := newChiefFiles(ctx, r.env)
	if err != nil {
		return err
	}
	r.out = c
	return nil
}

// buildGraph builds the training graph (with the kNN monitor's inference
// path when train.knn_every > 0, on every worker) on the placed config's
// devices and checks the disk has room for what the run writes.
func (r *run) buildGraph(placed *configs.Config) error {
	var err error
	rep := r.co.replicas()
	if r.p, r.enc, r.summaries, err = buildRunGraph(placed, r.spe, r.total, rep, r.opts.Monitor); err != nil {
		return err
	}
	workers := 1
	if rep != nil {
		workers = rep.Size()
	}
	if err := checkStepMemory(r.p.Graph, placed, workers, int64(len(r.ds.Pix))); err != nil {
		return err
	}
	return r.out.checkSpace(r.p.Graph.Variables())
}

// openSession starts the session (closed with the run unless a collective
// failed) and attaches the kNN monitor.
func (r *run) openSession() error {
	so := session.Options(r.cfg.Runtime)
	r.co.sessionOptions(&so)
	var err error
	if r.sess, err = NewSession(r.p.Step, so); err != nil {
		return err
	}
	r.closeFns = append(r.closeFns, func() {
		if !r.co.abandoned() {
			r.sess.Close()
		}
	})
	if r.enc != nil {
		r.enc.Attach(r.sess.Session)
	}
	// The summaries are opened by start, after the resume checks.
	r.closeFns = append(r.closeFns, func() { r.out.close(r.co.abandoned()) })
	return nil
}
