package tfgraph

import (
	"math"

	tf "github.com/wamuir/graft/tensorflow"
)

// Mode says how layers with state run: Inference uses BatchNorm's moving
// statistics and has no side effects; Training(u) uses the batch
// statistics and records the new moving statistics in u, which the caller
// assigns once at the end of the step (Updates.Assign).
type Mode struct{ updates *Updates }

// Inference is the mode of evaluation and serving.
var Inference = Mode{}

// Training is the training mode whose state updates go to u.
func Training(u *Updates) Mode { return Mode{updates: u} }

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
