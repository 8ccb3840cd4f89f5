package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// BYOL (Grill et al. 2020, "Bootstrap your own latent"): an online network
// (SimSiam's encoder, projector and predictor, under their usual names) and
// a target network of the encoder and projector (target/encoder/...,
// target/projector/..., not trained by gradients), an exponential moving
// average of the online one.

// TargetScope is the scope of BYOL's target network variables.
const TargetScope = "target"

// byolMethod is BYOL as a Method.
type byolMethod struct {
	online, target *SimSiam
	// pairs are every target variable with its online counterpart.
	pairs   []byolPair
	tauBase float64
}

type byolPair struct{ online, target *tfgraph.Variable }

// newBYOLMethod builds the online network (with predictor) and the target
// network under TargetScope, whose variables are not trainable; InitOps
// copies the online initial values into them.
func newBYOLMethod(g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error) {
	online, err := newNetwork(g, cfg.Model, inCh, cfg.Seed, true)
	if err != nil {
		return nil, err
	}
	before := len(g.Variables())
	target, err := newNetworkIn(g, g.Root().Child(TargetScope), cfg.Model, inCh, cfg.Seed, false)
	if err != nil {
		return nil, err
	}
	m := &byolMethod{online: online, target: target, tauBase: cfg.Method.BYOL.TauBase}
	for _, v := range g.Variables()[before:] {
		v.Trainable = false
		o := g.Variable(strings.TrimPrefix(v.Key, TargetScope+"/"))
		if o == nil {
			return nil, fmt.Errorf("byol: target variable %s has no online counterpart", v.Key)
		}
		m.pairs = append(m.pairs, byolPair{online: o, target: v})
	}
	return m, nil
}

func (m *byolMethod) Name() string { return "byol" }

// Net is the online network: its encoder is what kNN, linear evaluation
// and export use.
func (m *byolMethod) Net() *SimSiam { return m.online }

// Tower runs both views through the online network (with predictor) and
// the target network (BatchNorm on the batch's statistics, the target's
// moving statistics left to the moving average) and builds BYOLLoss.
// Local views (multi-crop) are refused.
func (m *byolMethod) Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs {
	if in.LocalCrops > 0 {
		s.Fail(fmt.Errorf("byol: augment.local_crops %d: BYOL here takes the two views only (set augment.local_crops to 0)", in.LocalCrops))
		return TowerOutputs{}
	}
	v1 := m.online.Forward(s.Child("view1"), in.X1, mode)
	v2 := m.online.Forward(s.Child("view2"), in.X2, mode)
	tmode := tfgraph.Training(tfgraph.NewUpdates())
	t1 := m.target.Forward(s.Child("target_view1"), in.X1, tmode)
	t2 := m.target.Forward(s.Child("target_view2"), in.X2, tmode)
	t := TowerOutputs{V1: v1, V2: v2}
	t.Loss = BYOLLoss(s.Child("loss"), v1.P, v2.P, t1.Z, t2.Z)
	t.Metrics = []Metric{{ZStdMetric, CollapseStd(s.Child("monitor"), v1.Z, int64(m.online.Cfg.ProjDim))}}
	return t
}

// ParamGroup: every online variable follows the schedule (BYOL keeps no
// fixed predictor rate).
func (m *byolMethod) ParamGroup(string) ParamGroup { return ScheduledLR }

// Tau is BYOL's moving-average rate after step k of total:
// 1 - (1 - tauBase) (cos(pi k / total) + 1) / 2, tauBase at k 0 rising to 1.
func Tau(tauBase float64, k, total int64) float64 {
	return 1 - (1-tauBase)*(math.Cos(math.Pi*float64(k)/float64(total))+1)/2
}

// StateUpdates moves every target variable towards the online one after
// the step's update, target = tau target + (1 - tau) online, tau as Tau at
// the step being done. s orders the reads of the online variables after
// the optimizer and the BatchNorm assignments, so the target follows the
// updated online weights (the paper's Algorithm 1); inside the update
// gate, so a skipped step leaves the target unchanged too.
func (m *byolMethod) StateUpdates(s *tfgraph.Scope, u UpdateContext) []*tfgraph.Operation {
	k := s.Cast(u.Step, tfgraph.Float)
	total := float32(u.TotalSteps)
	if total < 1 {
		total = 1
	}
	cos := s.Cos(s.Mul(s.Div(k, s.Const("total_steps", total)), s.Const("pi", float32(math.Pi))))
	half := s.Mul(s.Add(cos, s.Const("one", float32(1))), s.Const("half", float32(0.5)))
	rest := s.Mul(s.Const("one_minus_tau_base", float32(1-m.tauBase)), half) // 1 - tau
	tau := s.Identity("tau", s.Sub(s.Const("one", float32(1)), rest))
	ops := make([]*tfgraph.Operation, 0, len(m.pairs))
	for _, p := range m.pairs {
		ps := s.Child(p.target.Key)
		theta := p.online.ReadIn(ps, "online")
		xi := p.target.Read()
		ops = append(ops, p.target.AssignOp(ps, "assign", s.Add(s.Mul(tau, xi), s.Mul(rest, theta))))
	}
	return ops
}

// InitOps copies every online variable's value into its target variable;
// s orders them after the variables' initial assignments.
func (m *byolMethod) InitOps(s *tfgraph.Scope) []*tfgraph.Operation {
	ops := make([]*tfgraph.Operation, 0, len(m.pairs))
	for _, p := range m.pairs {
		ps := s.Child(p.target.Key)
		ops = append(ops, p.target.AssignOp(ps, "copy", p.online.ReadIn(ps, "online")))
	}
	return ops
}

// BYOLLoss is BYOL's symmetric loss: for each view the online prediction
// against the other view's target projection, 2 - 2 cos(p, sg(z')), summed
// over the two directions and averaged over the batch,
//
//	L = 4 + 2 D(p1, sg(t2)) + 2 D(p2, sg(t1)),
//
// D the negative cosine (NegCosine).
func BYOLLoss(s *tfgraph.Scope, p1, p2, t1, t2 Output) Output {
	t1, t2 = s.StopGradient(t1), s.StopGradient(t2)
	d12 := NegCosine(s.Child("d12"), p1, t2)
	d21 := NegCosine(s.Child("d21"), p2, t1)
	two := s.Const("two", float32(2))
	return s.Identity("loss", s.Add(s.Const("four", float32(4)), s.Mul(two, s.Add(d12, d21))))
}
