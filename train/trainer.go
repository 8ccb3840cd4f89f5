package train

import (
	"fmt"
	"io"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Options control one pretraining run besides the config.
type Options struct {
	// Resume continues from the newest checkpoint in output_dir/checkpoints
	// (from step 0 when there is none).
	Resume bool
	// Force lets a fresh run (no Resume) start in an output_dir holding
	// another run's files: they are moved into output_dir/.replaced-TIME/.
	Force bool
	// Log receives one progress line per log interval (nil: discard).
	Log io.Writer
	// StopAfter > 0 stops after that global step (with a checkpoint) without
	// changing the learning-rate schedule, so a later --resume continues
	// exactly as if the run had not stopped.
	StopAfter int64
	// Devices are the devices to build for, already checked (see
	// eval.ResolveDevices); nil resolves cfg.Runtime.Devices.
	Devices []string
	// Replicas makes this process one worker of a between-graph
	// data-parallel job (nil: it trains alone). Its session must target the
	// worker's own TF server (runtime.target).
	Replicas *Replicas
}

// Result summarises a finished run.
type Result struct {
	Steps        int64   // global step reached
	Loss, ZStd   float32 // last step's loss and collapse monitor
	ImagesPerSec float64 // training throughput over the run (both views count once)
	Checkpoint   string  // prefix of the final checkpoint
	SavedModel   string  // exported SavedModel directory ("" if the run stopped early)
	// AlreadyComplete is set when a resumed run had already reached its
	// last step: nothing was trained (Loss, ZStd and ImagesPerSec are 0),
	// only a missing SavedModel was exported.
	AlreadyComplete bool
	// KNNTop1 and KNNTop5 are the last kNN monitor accuracies (NaN if not run).
	KNNTop1, KNNTop5 float64
}

// summaryTags are the scalars written to TensorBoard.
var summaryTags = []string{"loss", "lr", "z_std", "images_per_sec", "knn_top1", "knn_top5"}

// OpenPretrainData opens the pretraining split with the configured channels.
func OpenPretrainData(cfg *configs.Config) (*data.Images, error) {
	ds, err := data.OpenWith(cfg.Data.Format, cfg.Data.Dir, cfg.Data.Split, data.Options{
		Size: cfg.Data.ImageSize, Limit: cfg.Data.Limit, Channels: cfg.Data.Channels,
		ImageFeature: cfg.Data.ImageFeature, LabelFeature: cfg.Data.LabelFeature,
	})
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
	// Rank is the worker's rank, part of its augmentation seed.
	Rank int
}

// BuildPipeline builds the step with in-graph augmentation.
func BuildPipeline(cfg *configs.Config, stepsPerEpoch, total int64) (*Pipeline, error) {
	return BuildReplicaPipeline(cfg, stepsPerEpoch, total, nil)
}

// BuildReplicaPipeline builds the step with in-graph augmentation for one
// worker of a data-parallel job (rep nil: a process training alone).
func BuildReplicaPipeline(cfg *configs.Config, stepsPerEpoch, total int64, rep *Replicas) (*Pipeline, error) {
	p := &Pipeline{}
	if rep != nil {
		p.Rank = rep.Rank
	}
	st, err := BuildStep(cfg, StepOptions{
		StepsPerEpoch: stepsPerEpoch, TotalSteps: total, InChannels: int64(cfg.Data.Channels), Replicas: rep,
		Views: func(s *tfgraph.Scope) (Output, Output, Output) {
			p.Images = s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, int64(cfg.Data.Channels)})
			p.Seed = s.Placeholder("seed", tfgraph.Int64, []int64{2})
			a := s.Child("augment")
			v1, v2 := augment.Views(a, p.Images, p.Seed, cfg.Augment, cfg.Data)
			return v1, v2, augment.LocalViews(a.Child("local"), p.Images, p.Seed, cfg.Augment, cfg.Data)
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
	seed, err := tfgraph.NewTensor(augment.StepSeed(WorkerSeed(runSeed, p.Rank), step))
	if err != nil {
		return nil, err
	}
	return map[Output]*tfgraph.Tensor{p.Images: img, p.Seed: seed}, nil
}

// BuildRunGraph builds the graph Run runs: the training step with in-graph
// augmentation, the kNN monitor's inference path over the live weights
// (when train.knn_every > 0; nil otherwise) and the TensorBoard summary ops.
func BuildRunGraph(cfg *configs.Config, stepsPerEpoch, total int64) (*Pipeline, *eval.Encoder, *tfgraph.SummaryWriter, error) {
	return buildRunGraph(cfg, stepsPerEpoch, total, nil)
}

func buildRunGraph(cfg *configs.Config, stepsPerEpoch, total int64, rep *Replicas) (*Pipeline, *eval.Encoder, *tfgraph.SummaryWriter, error) {
	p, err := BuildReplicaPipeline(cfg, stepsPerEpoch, total, rep)
	if err != nil {
		return nil, nil, nil, err
	}
	var enc *eval.Encoder
	if cfg.Train.KNNEvery > 0 {
		enc = eval.NewEncoderOn(p.Graph, p.Net.Backbone, cfg.Data)
	}
	sw := tfgraph.NewSummaryWriter(p.Graph, runfolder.Dir(cfg.OutputDir).Logs(), summaryTags...)
	if err := p.Graph.Err(); err != nil {
		return nil, nil, nil, err
	}
	return p, enc, sw, nil
}

// WorkerSeed is the run seed a worker's augmentation draws from: the run
// seed itself for rank 0 (so one process alone draws what it always drew),
// a different one for every other rank, so no two workers augment alike.
func WorkerSeed(runSeed int64, rank int) int64 {
	return runSeed + int64(uint64(rank)*0x9e3779b97f4a7c15)
}

func posAt(b *data.Batcher, step int64) data.Position { return b.PositionAt(int(step)) }
