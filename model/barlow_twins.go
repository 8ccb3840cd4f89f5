package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised
// Learning via Redundancy Reduction"): the encoder and projector of
// SimSiam's network without the predictor, and a loss that drives the
// cross-correlation of the two views' batch-normalised projections to the
// identity.

// barlowTwinsMethod is Barlow Twins as a Method.
type barlowTwinsMethod struct {
	n      *SimSiam
	lambda float64
}

// newBarlowTwinsMethod builds the encoder and the projector (model.proj_*)
// for cfg.
func newBarlowTwinsMethod(g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error) {
	n, err := newNetwork(g, cfg.Model, inCh, cfg.Seed, false)
	if err != nil {
		return nil, err
	}
	return &barlowTwinsMethod{n: n, lambda: cfg.Method.BarlowTwins.Lambda}, nil
}

func (m *barlowTwinsMethod) Name() string  { return "barlow_twins" }
func (m *barlowTwinsMethod) Net() *SimSiam { return m.n }

// Tower runs both views through the encoder and projector (BN statistics
// per view) and builds BarlowTwinsLoss of the projections; with several
// workers (in.Global) BarlowTwinsLossGlobal, over the global batch. Local
// views (multi-crop) are refused.
func (m *barlowTwinsMethod) Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs {
	if in.LocalCrops > 0 {
		s.Fail(fmt.Errorf("barlow_twins: augment.local_crops %d: Barlow Twins here takes the two views only (set augment.local_crops to 0)", in.LocalCrops))
		return TowerOutputs{}
	}
	v1 := m.n.Forward(s.Child("view1"), in.X1, mode)
	v2 := m.n.Forward(s.Child("view2"), in.X2, mode)
	t := TowerOutputs{V1: v1, V2: v2}
	if in.Global != nil {
		t.Loss = BarlowTwinsLossGlobal(s.Child("loss"), v1.Z, v2.Z, m.lambda, in.Global)
	} else {
		t.Loss = BarlowTwinsLoss(s.Child("loss"), v1.Z, v2.Z, m.lambda)
	}
	t.Metrics = []Metric{{ZStdMetric, CollapseStd(s.Child("monitor"), v1.Z, int64(m.n.Cfg.ProjDim))}}
	return t
}

// ParamGroup: every variable follows the schedule.
func (m *barlowTwinsMethod) ParamGroup(string) ParamGroup { return ScheduledLR }

// StateUpdates: Barlow Twins has none.
func (m *barlowTwinsMethod) StateUpdates(*tfgraph.Scope, UpdateContext) []*tfgraph.Operation {
	return nil
}

// barlowEps is added to the batch variance before its square root, as
// BatchNorm without affine parameters does in the paper's code (PyTorch's
// default 1e-5).
const barlowEps = 1e-5

// BarlowTwinsLoss is the Barlow Twins loss of the projections z1, z2 [N, D]:
// each normalised along the batch (mean 0 and variance 1 per dimension,
// the biased variance plus barlowEps as BatchNorm's), C = z1n^T z2n / N
// (D x D), and
//
//	L = sum_i (1 - C_ii)^2 + lambda sum_i sum_{j != i} C_ij^2.
func BarlowTwinsLoss(s *tfgraph.Scope, z1, z2 Output, lambda float64) Output {
	norm := func(s *tfgraph.Scope, z Output) Output {
		mean := s.Mean(z, true, 0)
		c := s.Sub(z, mean)
		v := s.Mean(s.Square(c), true, 0)
		return s.Mul(c, s.Rsqrt(s.Add(v, s.Const("eps", float32(barlowEps)))))
	}
	a, b := norm(s.Child("norm1"), z1), norm(s.Child("norm2"), z2)
	n := s.Cast(s.Gather(s.Shape(a), s.Const("rows", int32(0))), tfgraph.Float)
	c := s.Div(s.MatMul(a, b, true, false), n) // [D, D]
	diag := s.Div(s.Sum(s.Mul(a, b), false, 0), n)
	one := s.Const("one", float32(1))
	on := s.Sum(s.Square(s.Sub(one, diag)), false, 0)
	off := s.Sub(s.Sum(s.Square(c), false, 0, 1), s.Sum(s.Square(diag), false, 0))
	return s.Identity("loss", s.Add(on, s.Mul(s.Const("lambda", float32(lambda)), off)))
}

// BarlowTwinsLossGlobal is BarlowTwinsLoss over the global batch of a
// data-parallel job: the batch size, the per-dimension sums, the sums of
// squared deviations and the cross-correlation sums of every worker's
// slice are sum-all-reduced over g (differentiable, so the backward pass is
// the global one too; three all-reduces, keys from g.NextKey). Every
// worker gets the loss of the whole batch, which a 1-process run on it
// would compute (up to float32 rounding of the sums).
func BarlowTwinsLossGlobal(s *tfgraph.Scope, z1, z2 Output, lambda float64, g *tfgraph.SyncBN) Output {
	allSum := func(name string, x Output) Output {
		key := g.NextKey
		g.NextKey++
		return s.AllReduceSumDiff(name, x, g.Group, key, g.Timeout)
	}
	d := z1.Shape().Size(1)
	if d < 1 {
		s.Fail(fmt.Errorf("barlow twins: projections of unknown width %d", d))
		return Output{}
	}
	d32 := int32(d)
	cnt := s.StopGradient(s.Cast(s.Slice(s.Shape(z1), []int32{0}, []int32{1}), tfgraph.Float))
	sums := allSum("sums", s.Concat(0, s.Sum(z1, false, 0), s.Sum(z2, false, 0), cnt))
	n := s.Reshape(s.Slice(sums, []int32{2 * d32}, []int32{1}))
	c1 := s.Sub(z1, s.Div(s.Slice(sums, []int32{0}, []int32{d32}), n))
	c2 := s.Sub(z2, s.Div(s.Slice(sums, []int32{d32}, []int32{d32}), n))
	sq := allSum("squares", s.Concat(0, s.Sum(s.Square(c1), false, 0), s.Sum(s.Square(c2), false, 0)))
	eps := s.Const("eps", float32(barlowEps))
	a := s.Mul(c1, s.Rsqrt(s.Add(s.Div(s.Slice(sq, []int32{0}, []int32{d32}), n), eps)))
	b := s.Mul(c2, s.Rsqrt(s.Add(s.Div(s.Slice(sq, []int32{d32}, []int32{d32}), n), eps)))
	cc := allSum("cross", s.Concat(0, s.Reshape(s.MatMul(a, b, true, false), -1), s.Sum(s.Mul(a, b), false, 0)))
	c := s.Div(s.Slice(cc, []int32{0}, []int32{d32 * d32}), n)
	diag := s.Div(s.Slice(cc, []int32{d32 * d32}, []int32{d32}), n)
	one := s.Const("one", float32(1))
	on := s.Sum(s.Square(s.Sub(one, diag)), false, 0)
	off := s.Sub(s.Sum(s.Square(c), false, 0), s.Sum(s.Square(diag), false, 0))
	return s.Identity("loss", s.Add(on, s.Mul(s.Const("lambda", float32(lambda)), off)))
}
