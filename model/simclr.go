package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning
// of Visual Representations"): the encoder and projector of SimSiam's
// network without the predictor, and the NT-Xent loss over the 2N views of
// a batch of N images.

// simCLRMethod is SimCLR as a Method.
type simCLRMethod struct {
	n           *SimSiam
	temperature float64
}

// newSimCLRMethod builds the encoder and the projector (model.proj_*;
// proj_layers 3 is SimCLR v2's projector, with BN) for cfg.
func newSimCLRMethod(g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error) {
	n, err := newNetwork(g, cfg.Model, inCh, cfg.Seed, false)
	if err != nil {
		return nil, err
	}
	return &simCLRMethod{n: n, temperature: cfg.Method.SimCLR.Temperature}, nil
}

func (m *simCLRMethod) Name() string  { return "simclr" }
func (m *simCLRMethod) Net() *SimSiam { return m.n }

// Tower runs both views through the encoder and projector (BN statistics
// per view, as SimSiam's) and builds NTXentLoss of the projections; with
// several workers (in.Global) NTXentLossGlobal, whose negatives are the
// global batch. Local views (multi-crop) are refused.
func (m *simCLRMethod) Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs {
	if in.LocalCrops > 0 {
		s.Fail(fmt.Errorf("simclr: augment.local_crops %d: SimCLR here takes the two views only (set augment.local_crops to 0)", in.LocalCrops))
		return TowerOutputs{}
	}
	v1 := m.n.Forward(s.Child("view1"), in.X1, mode)
	v2 := m.n.Forward(s.Child("view2"), in.X2, mode)
	t := TowerOutputs{V1: v1, V2: v2}
	if in.Global != nil {
		t.Loss = NTXentLossGlobal(s.Child("loss"), v1.Z, v2.Z, m.temperature, in.Global, in.Rank)
	} else {
		t.Loss = NTXentLoss(s.Child("loss"), v1.Z, v2.Z, m.temperature)
	}
	t.Metrics = []Metric{{ZStdMetric, CollapseStd(s.Child("monitor"), v1.Z, int64(m.n.Cfg.ProjDim))}}
	return t
}

// ParamGroup: every variable follows the schedule.
func (m *simCLRMethod) ParamGroup(string) ParamGroup { return ScheduledLR }

// StateUpdates: SimCLR has none.
func (m *simCLRMethod) StateUpdates(*tfgraph.Scope, UpdateContext) []*tfgraph.Operation { return nil }

// ntXentMask is the constant subtracted from a view's similarity with
// itself: exp of it is exactly 0 in float32, so the view is no negative of
// its own (google-research/simclr masks the same way).
const ntXentMask = 1e9

// NTXentLoss is SimCLR's normalised temperature-scaled cross entropy of the
// projections z1, z2 [N, D] of the two views: with u the 2N l2-normalised
// rows of z1 then z2, s_ik = u_i . u_k / t, and j the other view of i,
//
//	L = 1/(2N) sum_i -log(exp(s_ij) / sum_{k != i} exp(s_ik)),
//
// the mean over all 2N views. The log-sum-exp subtracts each row's
// (detached) maximum, so small temperatures stay finite.
func NTXentLoss(s *tfgraph.Scope, z1, z2 Output, t float64) Output {
	u1, u2 := L2Normalize(s.Child("u1"), z1), L2Normalize(s.Child("u2"), z2)
	u := s.Concat(0, u1, u2)
	invT := s.Const("inv_temperature", float32(1/t))
	logits := s.Mul(s.MatMul(u, u, false, true), invT) // [2N, 2N]
	// The diagonal (each view with itself) is masked out.
	r := s.Range(s.Const("zero", int32(0)), s.Gather(s.Shape(u), s.Const("rows", int32(0))), s.Const("one", int32(1)))
	eye := s.Cast(s.Equal(s.Reshape(r, -1, 1), s.Reshape(r, 1, -1)), tfgraph.Float)
	logits = s.Sub(logits, s.Mul(eye, s.Const("mask", float32(ntXentMask))))
	top := s.StopGradient(s.Max(logits, true, 1))
	lse := s.Add(s.Reshape(top, -1), s.Log(s.Sum(s.Exp(s.Sub(logits, top)), false, 1)))
	// The positive of row i is the other view of the same image, u1_i . u2_i
	// for both halves.
	pos := s.Mul(s.Sum(s.Mul(u1, u2), false, 1), invT)
	return s.Identity("loss", s.Mean(s.Sub(lse, s.Concat(0, pos, pos)), false, 0))
}

// NTXentLossGlobal is NTXentLoss over the global batch of a data-parallel
// job of g.Group.Size workers, this one rank: every worker's normalised
// projections are gathered (each worker puts its B rows into its own slot
// of a zero [W B, D] matrix, one per view, and the matrices are
// sum-all-reduced over g, differentiably, so the gradients reach every
// worker's rows), and this worker's 2B views are scored against all 2 W B
// views of the global batch, as google-research/simclr's objective does
// across replicas. The loss is the mean over this worker's views: the mean
// over the workers (the step's all-reduce) is the 1-process loss of the
// global batch, and so are the averaged gradients.
func NTXentLossGlobal(s *tfgraph.Scope, z1, z2 Output, t float64, g *tfgraph.SyncBN, rank int) Output {
	w := g.Group.Size
	u1, u2 := L2Normalize(s.Child("u1"), z1), L2Normalize(s.Child("u2"), z2)
	shape := s.Shape(u1)                                     // [B, D]
	b := s.Gather(shape, s.Const("rows", int32(0)))          // B
	d := s.Gather(shape, s.Const("cols", int32(1)))          // D
	off := s.Mul(b, s.Const("rank", int32(rank)))            // this worker's first global row
	rest := s.Mul(b, s.Const("after", int32(int(w)-1-rank))) // rows after this worker's
	zero := s.Const("zero", float32(0))
	slot := func(u Output) Output {
		before := s.Fill(s.Pack(0, off, d), zero)
		after := s.Fill(s.Pack(0, rest, d), zero)
		key := g.NextKey
		g.NextKey++
		return s.AllReduceSumDiff("gather", s.Concat(0, before, u, after), g.Group, key, g.Timeout)
	}
	all := s.Concat(0, slot(u1), slot(u2)) // [2N, D], N = W B: view 1 of every image, then view 2
	invT := s.Const("inv_temperature", float32(1/t))
	local := s.Concat(0, u1, u2)                             // [2B, D]
	logits := s.Mul(s.MatMul(local, all, false, true), invT) // [2B, 2N]
	n := s.Mul(b, s.Const("workers", w))
	one := s.Const("one", int32(1))
	rb := s.Add(s.Range(s.Const("zero_i", int32(0)), b, one), off) // global rows of this worker's images
	self := s.Concat(0, rb, s.Add(rb, n))                          // each local view's own column
	pos := s.Concat(0, s.Add(rb, n), rb)                           // its other view's column
	cols := s.Reshape(s.Range(s.Const("zero_c", int32(0)), s.Mul(n, s.Const("two", int32(2))), one), 1, -1)
	eye := s.Cast(s.Equal(s.Reshape(self, -1, 1), cols), tfgraph.Float)
	hit := s.Cast(s.Equal(s.Reshape(pos, -1, 1), cols), tfgraph.Float)
	posLogit := s.Sum(s.Mul(logits, hit), false, 1)
	logits = s.Sub(logits, s.Mul(eye, s.Const("mask", float32(ntXentMask))))
	top := s.StopGradient(s.Max(logits, true, 1))
	lse := s.Add(s.Reshape(top, -1), s.Log(s.Sum(s.Exp(s.Sub(logits, top)), false, 1)))
	return s.Identity("loss", s.Mean(s.Sub(lse, posLogit), false, 0))
}
