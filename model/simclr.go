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
// per view, as SimSiam's) and builds NTXentLoss of the projections. Local
// views (multi-crop) are refused.
func (m *simCLRMethod) Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs {
	if in.LocalCrops > 0 {
		s.Fail(fmt.Errorf("simclr: augment.local_crops %d: SimCLR here takes the two views only (set augment.local_crops to 0)", in.LocalCrops))
		return TowerOutputs{}
	}
	v1 := m.n.Forward(s.Child("view1"), in.X1, mode)
	v2 := m.n.Forward(s.Child("view2"), in.X2, mode)
	t := TowerOutputs{V1: v1, V2: v2}
	t.Loss = NTXentLoss(s.Child("loss"), v1.Z, v2.Z, m.temperature)
	t.Metrics = []Metric{{ZStdMetric, CollapseStd(s.Child("monitor"), v1.Z, int64(m.n.Cfg.ProjDim))}}
	return t
}

// ParamGroup: every variable follows the schedule.
func (m *simCLRMethod) ParamGroup(string) ParamGroup { return ScheduledLR }

// StateUpdates: SimCLR has none.
func (m *simCLRMethod) StateUpdates(*tfgraph.Scope, UpdateContext) []*tfgraph.Operation { return nil }

// NeedsGlobalBatch: NT-Xent's negatives are the whole batch; over several
// workers they must be gathered (not yet built).
func (m *simCLRMethod) NeedsGlobalBatch() string {
	return "SimCLR's NT-Xent takes its negatives from the whole batch, and gathering them across workers (CollectiveGatherV2) is not built yet: train simclr in one process"
}

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
