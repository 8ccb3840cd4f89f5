package tfgraph

import (
	"math"

	tf "github.com/wamuir/graft/tensorflow"
)

// Mode says how layers with state run: Inference uses BatchNorm's moving
// statistics and has no side effects; Training(u) uses the batch
// statistics and records the new moving statistics in u, which the caller
// assigns once at the end of the step (Updates.Assign).
type Mode struct {
	updates *Updates
	sync    *SyncBN
}

// SyncBN makes training-mode BatchNorm use the statistics of the whole
// global batch of a data-parallel job: the per-channel sums, sums of
// squares and counts of every worker's slice are sum-all-reduced
// (AllReduceSumDiff, whose gradient is the all-reduce of the incoming
// gradient, so the backward pass is the global one too).
type SyncBN struct {
	Group   Group
	Timeout float32 // seconds, > 0
	// NextKey is the instance key of the next BatchNorm application; each
	// takes one. Every worker builds its layers in the same order, so the
	// keys match.
	NextKey int32
}

// Inference is the mode of evaluation and serving.
var Inference = Mode{}

// Training is the training mode whose state updates go to u.
func Training(u *Updates) Mode { return Mode{updates: u} }

// TrainingSync is Training with BatchNorm statistics over every worker's
// batch (see SyncBN).
func TrainingSync(u *Updates, sync *SyncBN) Mode { return Mode{updates: u, sync: sync} }

// IsTraining reports whether m is a training mode.
func (m Mode) IsTraining() bool { return m.updates != nil }

// HeNormalFanOut is Kaiming-normal init with mode fan_out and ReLU gain, as
// torchvision's ResNets use for convolutions (kernel HWIO).
func HeNormalFanOut(dims []int64) Initializer {
	fanOut := dims[len(dims)-1]
	for _, d := range dims[:len(dims)-2] {
		fanOut *= d
	}
	return Normal(float32(math.Sqrt(2 / float64(fanOut))))
}

// TorchLinearInit is PyTorch's default nn.Linear init, U(±1/sqrt(fan_in)),
// used for both weight and bias.
func TorchLinearInit(fanIn int64) Initializer {
	return Uniform(float32(1 / math.Sqrt(float64(fanIn))))
}

// Conv2D is a convolution without bias over NHWC inputs with symmetric zero
// padding (PyTorch's convention), kernel stored HWIO.
type Conv2D struct {
	Kernel         *Variable
	Stride, Pad    int64
	InCh, OutCh, K int64
}

// NewConv2D creates scope/kernel with He fan_out init.
func NewConv2D(s *Scope, in, out, k, stride, pad int64, seed int64) *Conv2D {
	dims := []int64{k, k, in, out}
	return &Conv2D{Kernel: s.Var("kernel", dims, HeNormalFanOut(dims), seed), Stride: stride, Pad: pad, InCh: in, OutCh: out, K: k}
}

// Apply convolves x.
func (c *Conv2D) Apply(s *Scope, x Output) Output {
	return s.Conv2D(s.PadSpatial(x, int32(c.Pad)), c.Kernel.Read(), c.Stride, "VALID")
}

// Dense is x·W (+ b) with W stored [in, out].
type Dense struct {
	Kernel, Bias *Variable
}

// NewDense creates scope/kernel (and scope/bias when bias is set) with
// PyTorch's default init.
func NewDense(s *Scope, in, out int64, bias bool, seed int64) *Dense {
	d := &Dense{Kernel: s.Var("kernel", []int64{in, out}, TorchLinearInit(in), seed)}
	if bias {
		d.Bias = s.Var("bias", []int64{out}, TorchLinearInit(in), seed)
	}
	return d
}

// Apply computes x·W + b.
func (d *Dense) Apply(s *Scope, x Output) Output {
	y := s.MatMul(x, d.Kernel.Read(), false, false)
	if d.Bias != nil {
		y = s.BiasAdd(y, d.Bias.Read())
	}
	return y
}

// BatchNorm normalises the last axis. In Training mode it uses the batch
// statistics and updates the moving ones as
// moving = (1-Momentum)*moving + Momentum*batch (PyTorch convention; the
// variance update uses the unbiased batch variance), through
// FusedBatchNormV3's exponential_avg_factor. Inference mode uses the moving
// statistics. Without Affine there is no gamma/beta (scale 1, offset 0).
type BatchNorm struct {
	Gamma, Beta           *Variable // nil when not affine
	MovingMean, MovingVar *Variable
	Eps, Momentum         float32
	C                     int64
}

// NewBatchNorm creates gamma, beta, moving_mean and moving_variance in s.
// gammaInit lets residual blocks start their last BN at zero.
func NewBatchNorm(s *Scope, c int64, eps, momentum float32, affine bool, gammaInit Initializer) *BatchNorm {
	bn := &BatchNorm{Eps: eps, Momentum: momentum, C: c}
	if affine {
		if gammaInit == nil {
			gammaInit = Ones()
		}
		bn.Gamma = s.Var("gamma", []int64{c}, gammaInit, 0)
		bn.Beta = s.Var("beta", []int64{c}, Zeros(), 0)
	}
	bn.MovingMean = s.Var("moving_mean", []int64{c}, Zeros(), 0, NonTrainable())
	bn.MovingVar = s.Var("moving_variance", []int64{c}, Ones(), 0, NonTrainable())
	return bn
}

// Apply normalises x (rank 2 [N,C] or rank 4 NHWC).
func (bn *BatchNorm) Apply(s *Scope, x Output, mode Mode) Output {
	rank2 := x.Op != nil && x.Shape().NumDimensions() == 2
	in := x
	if rank2 {
		in = s.Reshape(x, -1, 1, 1, int32(bn.C))
	}
	var scale, offset Output
	if bn.Gamma != nil {
		scale, offset = bn.Gamma.Read(), bn.Beta.Read()
	} else {
		ones := make([]float32, bn.C)
		for i := range ones {
			ones[i] = 1
		}
		scale, offset = s.Const("scale", ones), s.Const("offset", make([]float32, bn.C))
	}
	attrs := map[string]any{
		"T": Float, "U": Float, "epsilon": bn.Eps, "data_format": "NHWC",
		"is_training": mode.IsTraining(),
	}
	if mode.updates != nil && mode.sync != nil {
		y := bn.applySync(s, in, scale, offset, mode)
		if rank2 {
			y = s.Reshape(y, -1, int32(bn.C))
		}
		return y
	}
	mean, variance := bn.MovingMean.Read(), bn.MovingVar.Read()
	if u := mode.updates; u != nil {
		mean, variance = u.Value(bn.MovingMean), u.Value(bn.MovingVar)
		attrs["exponential_avg_factor"] = bn.Momentum
	}
	op := s.Op("FusedBatchNormV3", "FusedBatchNormV3", []tf.Input{in, scale, offset, mean, variance}, attrs)
	if op == nil {
		return Output{}
	}
	y := op.Output(0)
	if u := mode.updates; u != nil {
		u.Set(bn.MovingMean, op.Output(1))
		u.Set(bn.MovingVar, op.Output(2))
	}
	if rank2 {
		y = s.Reshape(y, -1, int32(bn.C))
	}
	return y
}

// applySync is training-mode BatchNorm over the global batch: y = (x -
// mean) * rsqrt(var + eps) * scale + offset with mean and (biased) var from
// the all-reduced per-channel sums; the moving statistics are updated with
// the unbiased global variance, as FusedBatchNormV3 does for one batch.
func (bn *BatchNorm) applySync(s *Scope, x, scale, offset Output, mode Mode) Output {
	sy := mode.sync
	c := int32(bn.C)
	flat := s.Reshape(x, -1, c)
	cnt := s.StopGradient(s.Cast(s.Slice(s.Shape(flat), []int32{0}, []int32{1}), Float))
	local := s.Concat(0, s.Sum(flat, false, 0), s.Sum(s.Square(flat), false, 0), cnt)
	key := sy.NextKey
	sy.NextKey++
	total := s.AllReduceSumDiff("sync_stats", local, sy.Group, key, sy.Timeout)
	n := s.Reshape(s.Slice(total, []int32{2 * c}, []int32{1}))
	mean := s.Div(s.Slice(total, []int32{0}, []int32{c}), n)
	meanSq := s.Div(s.Slice(total, []int32{c}, []int32{c}), n)
	variance := s.Maximum(s.Sub(meanSq, s.Square(mean)), s.Const("zero", float32(0)))
	inv := s.Mul(s.Rsqrt(s.Add(variance, s.Const("eps", bn.Eps))), scale)
	y := s.Add(s.Mul(s.Sub(x, mean), inv), offset)
	u := mode.updates
	m := s.Const("momentum", bn.Momentum)
	keep := s.Const("keep", 1-bn.Momentum)
	unbiased := s.Mul(s.StopGradient(variance), s.Div(n, s.Sub(n, s.Const("one", float32(1)))))
	u.Set(bn.MovingMean, s.Add(s.Mul(keep, u.Value(bn.MovingMean)), s.Mul(m, s.StopGradient(mean))))
	u.Set(bn.MovingVar, s.Add(s.Mul(keep, u.Value(bn.MovingVar)), s.Mul(m, unbiased)))
	return y
}
