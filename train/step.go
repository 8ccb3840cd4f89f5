// Package train builds SimSiam's training step as one TensorFlow graph and
// runs the pretraining loop: data, augmentation, step, checkpoints, logs.
package train

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Output is a symbolic tensor.
type Output = tfgraph.Output

// ViewsFn produces the two augmented views (float32 NHWC) of the batch for
// the towers, and with augment.local_crops > 0 the local views
// concatenated along the batch (augment.LocalViews; a zero Output
// otherwise). The default feeds them through placeholders.
type ViewsFn func(s *tfgraph.Scope) (x1, x2, local Output)

// StepOptions are what the step needs besides the config.
type StepOptions struct {
	// StepsPerEpoch and TotalSteps size the learning-rate schedule.
	StepsPerEpoch, TotalSteps int64
	// Views builds the inputs; nil means placeholders input/view1, input/view2.
	Views ViewsFn
	// InChannels is the image channel count fed to the backbone.
	InChannels int64
	// LossScaleGrowthSteps is, with runtime.precision fp16, the number of
	// finite steps after which the loss scale doubles; 0 means 2000
	// (TensorFlow's LossScaleOptimizer).
	LossScaleGrowthSteps int64
	// Replicas, when set with more than one worker, makes the step one
	// worker's of a between-graph data-parallel job: its gradients, loss
	// and BatchNorm statistics are averaged over the workers before the
	// update, and Sync broadcasts the chief's variables.
	Replicas *Replicas
}

// Step is the training graph: one Session.Run of Train does a whole step
// of the method (method.name, SimSiam by default) — both views through the
// network, the method's loss, gradients, SGD-with-momentum updates, BN
// moving averages, the method's own state updates (BYOL's target) and the
// step counter.
type Step struct {
	Graph *tfgraph.Graph
	// Method is the self-supervised method the step trains (method.name)
	// and Net its network: Net.Backbone is the encoder every method has.
	Method model.Method
	Net    *model.SimSiam
	// X1 and X2 are the two views the tower takes, and Local its local
	// views (augment.local_crops > 0: all of them concatenated along the
	// batch, as augment.LocalViews makes them; zero otherwise). They are
	// placeholders when StepOptions.Views is nil, else what it built.
	X1, X2, Local Output
	Towers        []model.TowerOutputs
	Loss          Output // the loss (with Replicas: the mean over the workers)
	ZStd          Output // collapse monitor (tower 0; with Replicas: the mean over the workers)
	// Metrics are the method's named scalar metrics of tower 0
	// (model.ZStdMetric among them, as this worker computes it).
	Metrics []model.Metric
	// Finite is bool [3], fetched with the loss: whether the loss, every
	// gradient and every new BatchNorm moving statistic are finite.
	Finite Output
	LR     Output // current learning rate of the encoder and projector
	// GlobalStep counts finished steps (int64); read before the update.
	GlobalStep *tfgraph.Variable
	Epoch      *tfgraph.Variable // epoch of the next step, saved in checkpoints
	Trainable  []*tfgraph.Variable
	Grads      []Output
	Opt        Optimizer
	// Scaler is the dynamic loss scaling of fp16 training (nil otherwise).
	Scaler *LossScaler
	Train  *tfgraph.Operation
	Init   *tfgraph.Operation
	Saver  *tfgraph.Saver

	// With Replicas (several workers), else empty or nil:
	// LocalGrads and LocalLoss are this worker's before the all-reduce.
	LocalGrads []Output
	LocalLoss  Output
	// Stop is a float32 scalar placeholder (default 0): 1 asks every worker
	// to stop after this step; AnyStop (bool) says whether one did.
	Stop, AnyStop Output
	// Sync gives every variable the chief's value (after init or restore)
	// and is the start barrier; Barrier waits for every worker.
	Sync    *tfgraph.Operation
	Barrier Output
	// SkipsIn (a float64 scalar, default 0) is fed the chief's count of
	// non-finite steps skipped so far when Sync runs; SkipsOut, fetched
	// in that run, is the chief's count on every worker.
	SkipsIn, SkipsOut Output
	// ConfigIn is fed this worker's agreed config (encodeAgreed) and
	// ConfigOut is the chief's; VotesIn (1: this worker's differs) sums to
	// VotesOut. They run before Sync, as the start barrier.
	ConfigIn, ConfigOut, VotesIn, VotesOut Output
	// packs are the all-reduce buffers of a step, in and out (benchmarks
	// time the all-reduce alone by feeding in).
	packIn, packOut []Output
}

// BuildStep builds the training graph for cfg. Everything but file I/O is
// built for cfg.Runtime.Devices' only device (the variables, the input and
// its augmentation, the network, the optimizer); checkpoint and summary I/O
// for that device's host CPU. No device leaves placement to TensorFlow.
// Several devices are an error: data parallelism is one process per
// device (o.Replicas).
func BuildStep(cfg *configs.Config, o StepOptions) (*Step, error) {
	if o.TotalSteps <= 0 || o.StepsPerEpoch <= 0 {
		return nil, fmt.Errorf("training step: total steps %d and steps per epoch %d must be positive", o.TotalSteps, o.StepsPerEpoch)
	}
	if o.InChannels == 0 {
		o.InChannels = int64(cfg.Data.Channels)
	}
	g := tfgraph.NewGraph()
	g.SetDevice(session.Device(cfg))
	root := g.Root()
	method, err := model.NewMethod(cfg.Method.Name, g, cfg, o.InChannels)
	if err != nil {
		return nil, err
	}
	st := &Step{Graph: g, Net: method.Net(), Method: method}
	st.GlobalStep = root.Var("global_step", nil, tfgraph.Zeros(), 0, tfgraph.NonTrainable(), tfgraph.WithDType(tfgraph.Int64))
	st.Epoch = root.Var("epoch", nil, tfgraph.Zeros(), 0, tfgraph.NonTrainable(), tfgraph.WithDType(tfgraph.Int64))
	if err := st.buildInputs(root, cfg, o); err != nil {
		return nil, err
	}
	// One tower: several devices are several worker processes (Replicas).
	if len(cfg.Runtime.Devices) > 1 {
		return nil, fmt.Errorf("runtime.devices lists %d devices (%s): one process trains on one device; for data parallelism over several devices run %d workers (simsiam train --workers %d, or TF_CONFIG per machine)",
			len(cfg.Runtime.Devices), strings.Join(cfg.Runtime.Devices, ", "), len(cfg.Runtime.Devices), len(cfg.Runtime.Devices))
	}
	bn, err := st.buildLoss(root, cfg, o)
	if err != nil {
		return nil, err
	}
	replicated := o.Replicas != nil && o.Replicas.Size() > 1
	if err := st.buildGradients(root, cfg, o, bn, replicated); err != nil {
		return nil, err
	}
	st.buildUpdate(root, cfg, o, bn)
	// Every checkpoint records the model config it was written with.
	st.Saver = tfgraph.NewSaver(g, "save", g.Variables(), model.RecordEntry(root.Child("simsiam").OnHost(), cfg), runRecordEntry(root.Child("simsiam").OnHost(), cfg))
	if replicated {
		if err := st.broadcast(root.Child("broadcast"), o.Replicas); err != nil {
			return nil, err
		}
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	return st, nil
}

// buildInputs sets the views: o.Views' or placeholders under input/.
func (st *Step) buildInputs(root *tfgraph.Scope, cfg *configs.Config, o StepOptions) error {
	if o.Views != nil {
		st.X1, st.X2, st.Local = o.Views(root.Child("input"))
	} else {
		size := int64(cfg.Data.ImageSize)
		in := root.Child("input")
		st.X1 = in.Placeholder("view1", tfgraph.Float, []int64{-1, size, size, o.InChannels})
		st.X2 = in.Placeholder("view2", tfgraph.Float, []int64{-1, size, size, o.InChannels})
		if cfg.Augment.LocalCrops > 0 {
			side := int64(cfg.Augment.LocalSide(cfg.Data.ImageSize))
			st.Local = in.Placeholder("local", tfgraph.Float, []int64{-1, side, side, o.InChannels})
		}
	}
	if cfg.Augment.LocalCrops > 0 && st.Local.Op == nil {
		return fmt.Errorf("training step: augment.local_crops is %d but the input gives no local views", cfg.Augment.LocalCrops)
	}
	return nil
}

// buildLoss builds the tower (BatchNorm synchronised over the workers
// with model.sync_bn), the loss and the collapse monitor, and lists the
// trainable variables. It returns the BatchNorm moving statistics' updates.
func (st *Step) buildLoss(root *tfgraph.Scope, cfg *configs.Config, o StepOptions) (*tfgraph.Updates, error) {
	bn := tfgraph.NewUpdates() // BatchNorm moving statistics, assigned after the gradients
	mode := tfgraph.Training(bn)
	if r := o.Replicas; r != nil && r.Size() > 1 && cfg.Model.SyncBN {
		mode = tfgraph.TrainingSync(bn, &tfgraph.SyncBN{Group: r.group(), Timeout: float32(r.CollectiveTimeout), NextKey: instanceSyncBN})
	}
	views := model.Views{X1: st.X1, X2: st.X2, Local: st.Local, LocalCrops: cfg.Augment.LocalCrops}
	if r := o.Replicas; r != nil && r.Size() > 1 {
		views.Global = &tfgraph.SyncBN{Group: r.group(), Timeout: float32(r.CollectiveTimeout), NextKey: instanceMethod}
		views.Rank = r.Rank
	}
	t := st.Method.Tower(root.Child("tower0"), views, mode)
	st.Towers = []model.TowerOutputs{t}
	ls := root.Child("loss")
	st.Loss = t.Loss
	st.Loss = ls.Identity("total", st.Loss)
	st.Metrics = t.Metrics
	var ok bool
	if st.ZStd, ok = t.Metric(model.ZStdMetric); !ok {
		return nil, fmt.Errorf("training step: method %s reports no %s metric", st.Method.Name(), model.ZStdMetric)
	}

	st.Trainable = st.Graph.Trainable()
	if err := st.Graph.Err(); err != nil {
		return nil, err
	}
	return bn, nil
}

// buildGradients builds the gradients (of the scaled loss with fp16) and,
// for a worker of a job (replicated), their all-reduce.
func (st *Step) buildGradients(root *tfgraph.Scope, cfg *configs.Config, o StepOptions, bn *tfgraph.Updates, replicated bool) error {
	precision, _ := session.Precision(cfg.Runtime)
	lossForGrads := st.Loss
	if precision == tfgraph.PrecisionFP16 || precision == tfgraph.PrecisionFP16CPU {
		st.Scaler = newLossScaler(root.Child("loss_scale"), o.LossScaleGrowthSteps)
		lossForGrads = st.Scaler.scale(st.Loss)
	}
	var err error
	st.Grads, err = st.Graph.Gradients("gradients", lossForGrads, st.Trainable)
	if err != nil {
		return err
	}
	if st.Scaler != nil {
		st.Grads = st.Scaler.unscale(st.Grads)
	}
	if replicated {
		return st.replicate(root.Child("replicas"), o.Replicas, bn)
	}
	return nil
}

// buildUpdate builds the learning-rate schedule, the finiteness flags, the
// gated optimizer and BatchNorm updates, the step and epoch counters, the
// train op and the initialiser.
func (st *Step) buildUpdate(root *tfgraph.Scope, cfg *configs.Config, o StepOptions, bn *tfgraph.Updates) {
	sched := root.Child("lr")
	baseLR := cfg.LR()
	st.LR = sched.Identity("lr", Schedule(sched, st.GlobalStep.Read(), baseLR, int64(cfg.Optim.WarmupEpochs)*o.StepsPerEpoch, o.TotalSteps))
	fixed := sched.Const("fixed", float32(baseLR))
	lrFor := func(v *tfgraph.Variable) Output {
		if st.Method.ParamGroup(v.Key) == model.FixedLR {
			return fixed
		}
		return st.LR
	}
	fs := root.Child("finite")
	parts := []Output{fs.AllFinite(st.Loss), fs.AllFinite(st.Grads...)}
	if bn.Len() > 0 {
		parts = append(parts, fs.AllFinite(bn.Values()...))
	} else {
		parts = append(parts, fs.Const("no_batchnorm", true))
	}
	st.Finite = fs.Pack(0, parts...)
	// The update gate: the optimizer and the BatchNorm assignments run only
	// when the loss, every gradient and every new moving statistic are
	// finite (the predicate depends on all gradients, so the updates also
	// run after every gradient is computed). A skipped step still counts.
	gate := root.Child("update_gate").NewGate(fs.All(st.Finite, false, 0))
	st.Opt = newOptimizer(cfg.Optim)
	apply := st.Opt.Apply(gate.Scope(root.Child("optimizer")), st.Trainable, st.Grads, lrFor)
	updates := bn.Assign(gate.Scope(root.Child("bn_updates")))
	// The method's own state follows the applied update (BYOL's target
	// reads the updated online weights).
	ms := gate.Scope(root.Child("method_updates")).WithControl(append([]*tfgraph.Operation{apply}, updates...)...)
	updates = append(updates, st.Method.StateUpdates(ms, model.UpdateContext{Step: st.GlobalStep.Read(), TotalSteps: o.TotalSteps})...)
	done := []*tfgraph.Operation{gate.Join("updates", append(updates, apply)...)}
	if st.Scaler != nil {
		done = append(done, st.Scaler.update(parts[1])...)
	}
	inc := st.GlobalStep.AssignAddOp(root.WithControl(done...), "increment_step", root.Const("one", int64(1)))
	// The epoch the next step belongs to, kept in checkpoints for people and
	// tools (the loop itself derives the data position from global_step).
	es := root.Child("epoch_update").WithControl(inc)
	next := es.Add(st.GlobalStep.Read(), es.Const("one", int64(1)))
	epoch := es.FloorDiv(next, es.Const("steps_per_epoch", o.StepsPerEpoch))
	setEpoch := st.Epoch.AssignOp(es, "assign", epoch)
	st.Train = root.Group("train_step", inc, setEpoch)
	st.Init = st.Graph.InitOp("init")
	if im, ok := st.Method.(model.InitMethod); ok {
		ops := im.InitOps(root.Child("method_init").WithControl(st.Init))
		st.Init = root.Group("init_method", append(ops, st.Init)...)
	}
}

// instanceMethod is the instance key of a method's first all-reduce over
// the global batch (model.Views.Global): below instanceSyncBN's keys.
const instanceMethod = 500

// Schedule is the learning rate at step (an int64 scalar): linear warm-up
// over warmup steps, then cosine decay from base to 0 at total steps.
func Schedule(s *tfgraph.Scope, step Output, base float64, warmup, total int64) Output {
	t := s.Cast(step, tfgraph.Float)
	b := s.Const("base", float32(base))
	w := s.Const("warmup", float32(warmup))
	decay := float32(total - warmup)
	if decay < 1 {
		decay = 1
	}
	progress := s.Div(s.Maximum(s.Sub(t, w), s.Const("zero", float32(0))), s.Const("decay_steps", decay))
	progress = s.Minimum(progress, s.Const("one", float32(1)))
	cosine := s.Mul(b, s.Mul(s.Const("half", float32(0.5)), s.Add(s.Const("one", float32(1)), s.Cos(s.Mul(progress, s.Const("pi", float32(math.Pi)))))))
	if warmup <= 0 {
		return cosine
	}
	ramp := s.Mul(b, s.Div(s.Add(t, s.Const("one", float32(1))), w))
	return s.Select(s.Less(t, w), ramp, cosine)
}

// errStepRun marks a failed Session.Run of the step (not a finiteness check).
var errStepRun = errors.New("training step")

// Stats are what one step reports.
type Stats struct {
	Loss, ZStd, LR float32
	Step           int64 // the step number just done (0-based)
	// Skipped says the update gate skipped the step's updates: nothing but
	// the step counter (and the loss scale) changed.
	Skipped bool
	// LossScale is the loss scale after the step (fp16; 0 otherwise).
	LossScale float32
	// Stop: a worker of a data-parallel job asked every worker to stop
	// after this step (Step.AnyStop).
	Stop bool
	// AllReduce is, at logged steps of a data-parallel job, the time one
	// all-reduce of the gradients takes (0 otherwise).
	AllReduce time.Duration
}

// NonFiniteError is a step whose loss, gradients or BatchNorm moving
// statistics were not finite. The update gate skipped its updates: the
// session's weights, momentum slots and statistics are those from before
// it, and global_step counts it.
type NonFiniteError struct {
	Step int64 // 1-based, as progress and metrics.jsonl count
	// What names what went non-finite: "loss", "gradients", "BatchNorm
	// moving statistics".
	What []string
	Loss float32
}

func (e *NonFiniteError) Error() string {
	if len(e.What) > 0 && e.What[0] == "loss" {
		return fmt.Sprintf("step %d: loss is %v; nothing of this step was applied or saved (lower optim.base_lr, or check the input data)", e.Step, e.Loss)
	}
	return fmt.Sprintf("step %d: the %s are not finite (loss %.4f); nothing of this step was applied or saved, the newest checkpoint is from before it (lower optim.base_lr)",
		e.Step, strings.Join(e.What, " and "), e.Loss)
}

// nonFiniteStats says a step's loss or z_std is NaN or Inf (JSON has no
// such numbers; a skipped step writes its own record).
func nonFiniteStats(s Stats) bool {
	for _, v := range []float32{s.Loss, s.ZStd} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return true
		}
	}
	return false
}

// Describe is what went non-finite, as one phrase ("loss, gradients").
func (e *NonFiniteError) Describe() string { return strings.Join(e.What, ", ") }

// Session is a running training graph.
type Session struct {
	*tfgraph.Session
	Step *Step
}

// NewSession starts a session for st and runs the initialiser.
func NewSession(st *Step, opts tfgraph.SessionOptions) (*Session, error) {
	s, err := tfgraph.NewSession(st.Graph, opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.Run(nil, nil, st.Init); err != nil {
		s.Close()
		return nil, fmt.Errorf("initialising variables: %w", err)
	}
	return &Session{Session: s, Step: st}, nil
}

// TrainStep does one training step on the given feeds in one Session.Run.
// A step that is not finite returns its Stats (Skipped) and a
// *NonFiniteError; with fp16 loss scaling, a step whose gradients alone
// overflowed is skipped without an error (the scale was halved).
func (s *Session) TrainStep(feeds map[Output]*tfgraph.Tensor) (Stats, error) {
	st := s.Step
	fetch := []Output{st.Loss, st.ZStd, st.LR, st.GlobalStep.Read(), st.Finite}
	stopAt, scaleAt := -1, -1
	if st.AnyStop.Op != nil {
		stopAt = len(fetch)
		fetch = append(fetch, st.AnyStop)
	}
	if st.Scaler != nil {
		scaleAt = len(fetch)
		fetch = append(fetch, st.Scaler.NewScale)
	}
	out, err := s.Run(feeds, fetch, st.Train)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", errStepRun, err)
	}
	var r Stats
	if stopAt >= 0 {
		if r.Stop, err = tfgraph.Value[bool](out[stopAt]); err != nil {
			return Stats{}, fmt.Errorf("training step: stop flag: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		dst  *float32
		t    *tfgraph.Tensor
	}{{"loss", &r.Loss, out[0]}, {"z_std", &r.ZStd, out[1]}, {"learning rate", &r.LR, out[2]}} {
		if *f.dst, err = tfgraph.FloatScalar(f.t); err != nil {
			return Stats{}, fmt.Errorf("training step: %s: %w", f.name, err)
		}
	}
	if r.Step, err = tfgraph.Int64Scalar(out[3]); err != nil {
		return Stats{}, fmt.Errorf("training step: global step: %w", err)
	}
	finite, err := tfgraph.Value[[]bool](out[4])
	if err != nil || len(finite) != 3 {
		return r, fmt.Errorf("training step: finiteness flags: %v %v", finite, err)
	}
	if scaleAt >= 0 {
		if r.LossScale, err = tfgraph.FloatScalar(out[scaleAt]); err != nil {
			return r, fmt.Errorf("training step: loss scale: %w", err)
		}
	}
	return checkFinite(r, finite, st.Scaler != nil)
}

// checkFinite classifies a step by its finiteness flags (loss, gradients,
// BatchNorm statistics): a finite step, a skipped one with a
// *NonFiniteError, or with loss scaling (scaled) a gradient overflow that
// only halved the scale.
func checkFinite(r Stats, finite []bool, scaled bool) (Stats, error) {
	lossOK := finite[0] && !math.IsNaN(float64(r.Loss)) && !math.IsInf(float64(r.Loss), 0)
	if lossOK && finite[1] && finite[2] {
		return r, nil
	}
	r.Skipped = true
	if scaled && lossOK && finite[2] {
		return r, nil // a loss-scale overflow: the scale was halved
	}
	e := &NonFiniteError{Step: r.Step + 1, Loss: r.Loss}
	if !lossOK {
		e.What = append(e.What, "loss")
	}
	if !finite[1] {
		e.What = append(e.What, "gradients")
	}
	if !finite[2] {
		e.What = append(e.What, "BatchNorm moving statistics")
	}
	return r, e
}
