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
	"time"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/progress"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Options control one pretraining run besides the config.
type Options struct {
	// Resume continues from the newest checkpoint in output_dir/checkpoints.
	Resume bool
	// Log receives one progress line per log interval (nil: discard).
	Log io.Writer
	// StopAfter > 0 stops after that global step (with a checkpoint) without
	// changing the learning-rate schedule, so a later --resume continues
	// exactly as if the run had not stopped.
	StopAfter int64
	// Devices are the devices to build for, already checked (see
	// eval.ResolveDevices); nil resolves cfg.Runtime.Devices.
	Devices []string
}

// Result summarises a finished run.
type Result struct {
	Steps        int64   // global step reached
	Loss, ZStd   float32 // last step's loss and collapse monitor
	ImagesPerSec float64 // training throughput over the run (both views count once)
	Checkpoint   string  // prefix of the final checkpoint
	SavedModel   string  // exported SavedModel directory ("" if the run stopped early)
	// KNNTop1 and KNNTop5 are the last kNN monitor accuracies (NaN if not run).
	KNNTop1, KNNTop5 float64
}

// summaryTags are the scalars written to TensorBoard.
var summaryTags = []string{"loss", "lr", "z_std", "images_per_sec", "knn_top1", "knn_top5"}

// OpenPretrainData opens the pretraining split with the configured channels.
func OpenPretrainData(cfg *configs.Config) (*data.Images, error) {
	ds, err := data.Open(cfg.Data.Format, cfg.Data.Dir, cfg.Data.Split, cfg.Data.ImageSize, cfg.Data.Limit)
	if err != nil {
		return nil, fmt.Errorf("pretraining data: %w", err)
	}
	return ds.WithChannels(cfg.Data.Channels)
}

// Pipeline is a training step fed from uint8 batches: the augmentation runs
// inside the graph.
type Pipeline struct {
	*Step
	Images Output // uint8 NHWC placeholder
	Seed   Output // int64 [2] placeholder: the step's augmentation seed
}

// BuildPipeline builds the step with in-graph augmentation.
func BuildPipeline(cfg *configs.Config, stepsPerEpoch, total int64) (*Pipeline, error) {
	p := &Pipeline{}
	st, err := BuildStep(cfg, StepOptions{
		StepsPerEpoch: stepsPerEpoch, TotalSteps: total, InChannels: int64(cfg.Data.Channels),
		Views: func(s *tfgraph.Scope) (Output, Output) {
			p.Images = s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, int64(cfg.Data.Channels)})
			p.Seed = s.Placeholder("seed", tfgraph.Int64, []int64{2})
			return augment.Views(s.Child("augment"), p.Images, p.Seed, cfg.Augment, cfg.Data)
		},
	})
	if err != nil {
		return nil, err
	}
	p.Step = st
	return p, nil
}

// Feeds builds the feed map for a uint8 batch at the given step.
func (p *Pipeline) Feeds(pix []byte, n, h, w, c int, runSeed, step int64) (map[Output]*tfgraph.Tensor, error) {
	img, err := tfgraph.NewTensor(pix)
	if err != nil {
		return nil, err
	}
	if err := img.Reshape([]int64{int64(n), int64(h), int64(w), int64(c)}); err != nil {
		return nil, err
	}
	seed, err := tfgraph.NewTensor(augment.StepSeed(runSeed, step))
	if err != nil {
		return nil, err
	}
	return map[Output]*tfgraph.Tensor{p.Images: img, p.Seed: seed}, nil
}

// BuildRunGraph builds the graph Run runs: the training step with in-graph
// augmentation, the kNN monitor's inference path over the live weights
// (when train.knn_every > 0; nil otherwise) and the TensorBoard summary ops.
func BuildRunGraph(cfg *configs.Config, stepsPerEpoch, total int64) (*Pipeline, *eval.Encoder, *tfgraph.SummaryWriter, error) {
	p, err := BuildPipeline(cfg, stepsPerEpoch, total)
	if err != nil {
		return nil, nil, nil, err
	}
	var enc *eval.Encoder
	if cfg.Train.KNNEvery > 0 {
		enc = eval.NewEncoderOn(p.Graph, p.Net.Backbone, cfg.Data)
	}
	sw := tfgraph.NewSummaryWriter(p.Graph, filepath.Join(cfg.OutputDir, "logs"), summaryTags...)
	if err := p.Graph.Err(); err != nil {
		return nil, nil, nil, err
	}
	return p, enc, sw, nil
}

// Run pretrains SimSiam as cfg says, writing checkpoints, config.yaml and
// metrics.jsonl under cfg.OutputDir.
func Run(ctx context.Context, cfg *configs.Config, o Options) (*Result, error) {
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	ds, err := OpenPretrainData(cfg)
	if err != nil {
		return nil, err
	}
	b, err := data.NewBatcher(ds.N, cfg.Optim.BatchSize, uint64(cfg.Seed), cfg.Data.DropLast)
	if err != nil {
		return nil, err
	}
	spe := int64(b.StepsPerEpoch())
	if spe == 0 {
		return nil, fmt.Errorf("%s: %d images make no batch of %d (lower optim.batch_size or set data.drop_last false)", ds.Source, ds.N, cfg.Optim.BatchSize)
	}
	total := spe * int64(cfg.Optim.Epochs)
	if cfg.Train.MaxSteps > 0 && int64(cfg.Train.MaxSteps) < total {
		total = int64(cfg.Train.MaxSteps)
	}
	ckpts := tfgraph.Checkpoints{Dir: filepath.Join(cfg.OutputDir, "checkpoints"), Keep: cfg.Train.KeepCheckpoints}
	latest, err := ckpts.Latest()
	if err != nil {
		return nil, err
	}
	if latest != "" && !o.Resume {
		return nil, fmt.Errorf("%s already holds checkpoints (newest %s): pass --resume to continue, or choose another output_dir", ckpts.Dir, filepath.Base(latest))
	}

	var bank, knnTest *data.Images
	if cfg.Train.KNNEvery > 0 {
		if bank, knnTest, err = eval.OpenEvalData(cfg); err != nil {
			return nil, fmt.Errorf("kNN monitor: %w", err)
		}
	}
	placed := cfg
	if o.Devices != nil {
		c := *cfg
		c.Runtime.Devices = o.Devices
		placed = &c
	} else if placed, err = eval.WithDevices(cfg); err != nil {
		return nil, err
	}
	p, enc, sw, err := BuildRunGraph(placed, spe, total)
	if err != nil {
		return nil, err
	}
	sess, err := NewSession(p.Step, eval.SessionOptions(cfg.Runtime))
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	if enc != nil {
		enc.Attach(sess.Session)
	}
	if err := sw.Init(sess.Session); err != nil {
		return nil, err
	}
	defer sw.Close(sess.Session)
	var start int64
	if o.Resume && latest != "" {
		// Names every missing variable and shape mismatch (a checkpoint of
		// another architecture) instead of TensorFlow's first failure.
		if err := tfgraph.CheckCompatible(latest, p.Graph.Variables()); err != nil {
			return nil, fmt.Errorf("cannot resume from %s: %w", latest, err)
		}
		if err := p.Saver.RestoreFrom(sess.Session, latest); err != nil {
			return nil, err
		}
		out, err := sess.Run(nil, []Output{p.GlobalStep.Read()})
		if err != nil {
			return nil, err
		}
		if start, err = tfgraph.Int64Scalar(out[0]); err != nil {
			return nil, fmt.Errorf("resuming from %s: global step: %w", latest, err)
		}
		fmt.Fprintf(logw, "resuming from %s at step %d\n", latest, start)
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return nil, err
	}
	yml, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	if err := tfgraph.WriteFileAtomic(filepath.Join(cfg.OutputDir, "config.yaml"), yml); err != nil {
		return nil, err
	}
	metrics, err := os.OpenFile(filepath.Join(cfg.OutputDir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	res := &Result{Steps: start, KNNTop1: math.NaN(), KNNTop5: math.NaN()}
	if start >= total {
		res.Checkpoint = latest
		return res, nil
	}
	pf, err := data.NewPrefetcher(ctx, ds, b, data.PrefetchOptions{Start: posAt(b, start), Steps: int(total - start), Depth: cfg.Data.Prefetch})
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	save := func(step int64) error {
		prefix := ckpts.Prefix(step)
		if err := p.Saver.Save(sess.Session, prefix); err != nil {
			return err
		}
		res.Checkpoint = prefix
		return ckpts.Commit(step)
	}
	every := int64(cfg.Train.LogEvery)
	if every <= 0 {
		every = 100
	}
	bar := progress.New(logw, "step", total, every)
	defer bar.Finish()
	t0 := time.Now()
	tLog, imgsSinceLog := t0, 0
	imgs := 0
	for step := start; step < total; step++ {
		batch, err := pf.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, err
		}
		feeds, err := p.Feeds(batch.Pix, len(batch.Idx), ds.H, ds.W, ds.C, cfg.Seed, step)
		if err != nil {
			return res, err
		}
		stats, err := sess.TrainStep(feeds)
		if err != nil {
			// Nothing is written for a failed step: the last checkpoint stays the newest.
			return res, err
		}
		imgs += len(batch.Idx)
		bar.Update(step+1, "epoch", fmt.Sprint(step/spe+1), "loss", fmt.Sprintf("%.4f", stats.Loss),
			"z_std", fmt.Sprintf("%.3f", stats.ZStd), "lr", fmt.Sprintf("%.4g", stats.LR),
			"img/s", fmt.Sprintf("%.0f", float64(imgs)/time.Since(t0).Seconds()))
		imgsSinceLog += len(batch.Idx)
		res.Steps, res.Loss, res.ZStd = step+1, stats.Loss, stats.ZStd
		if (cfg.Train.LogEvery > 0 && (step+1)%int64(cfg.Train.LogEvery) == 0) || step+1 == total {
			now := time.Now()
			ips := float64(imgsSinceLog) / now.Sub(tLog).Seconds()
			rec := map[string]any{"step": step + 1, "epoch": float64(step+1) / float64(spe), "loss": stats.Loss,
				"z_std": stats.ZStd, "lr": stats.LR, "images_per_sec": ips, "time": now.UTC().Format(time.RFC3339)}
			if err := writeJSONLine(metrics, rec); err != nil {
				return res, err
			}
			if err := sw.Scalars(sess.Session, step+1, map[string]float32{"loss": stats.Loss, "lr": stats.LR,
				"z_std": stats.ZStd, "images_per_sec": float32(ips)}); err != nil {
				return res, err
			}
			tLog, imgsSinceLog = now, 0
		}
		if cfg.Train.CheckpointEvery > 0 && (step+1)%int64(cfg.Train.CheckpointEvery) == 0 && step+1 < total {
			if err := save(step + 1); err != nil {
				return res, err
			}
		}
		if enc != nil && (step+1)%spe == 0 && ((step+1)/spe)%int64(cfg.Train.KNNEvery) == 0 {
			t1, t5, err := enc.KNN(bank, knnTest, cfg.Train.KNNK, cfg.Train.KNNTemperature)
			if err != nil {
				return res, fmt.Errorf("kNN monitor: %w", err)
			}
			res.KNNTop1, res.KNNTop5 = t1, t5
			fmt.Fprintf(logw, "epoch %d: kNN top-1 %.2f%% top-5 %.2f%% (k=%d, T=%g, %d test images)\n",
				(step+1)/spe, 100*t1, 100*t5, cfg.Train.KNNK, cfg.Train.KNNTemperature, knnTest.N)
			rec := map[string]any{"step": step + 1, "epoch": (step + 1) / spe, "knn_top1": t1}
			vals := map[string]float32{"knn_top1": float32(t1)}
			if !math.IsNaN(t5) {
				rec["knn_top5"], vals["knn_top5"] = t5, float32(t5)
			}
			if err := writeJSONLine(metrics, rec); err != nil {
				return res, err
			}
			if err := sw.Scalars(sess.Session, step+1, vals); err != nil {
				return res, err
			}
		}
		if o.StopAfter > 0 && step+1 >= o.StopAfter {
			break
		}
		if err := ctx.Err(); err != nil {
			// Interrupted (Ctrl-C): keep what was trained.
			if serr := save(res.Steps); serr != nil {
				return res, errors.Join(err, serr)
			}
			return res, fmt.Errorf("stopped at step %d, checkpoint %s: %w", res.Steps, res.Checkpoint, err)
		}
	}
	res.ImagesPerSec = float64(imgs) / time.Since(t0).Seconds()
	if err := save(res.Steps); err != nil {
		return res, err
	}
	if err := sw.Flush(sess.Session); err != nil {
		return res, err
	}
	if res.Steps >= total {
		dir := filepath.Join(cfg.OutputDir, "saved_model")
		if err := export.Export(cfg, res.Checkpoint, dir, true); err != nil {
			return res, fmt.Errorf("exporting the SavedModel: %w", err)
		}
		res.SavedModel = dir
	}
	return res, nil
}

func writeJSONLine(w io.Writer, rec map[string]any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	return nil
}

func posAt(b *data.Batcher, step int64) data.Position { return b.PositionAt(int(step)) }
