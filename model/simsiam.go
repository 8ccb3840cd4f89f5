package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// SimSiam holds the variables of the three parts of the network: the
// network of every method (Method.Net), whose Predictor is nil for a
// method without one.
type SimSiam struct {
	Cfg       configs.Model
	Backbone  Backbone
	Projector *MLP
	Predictor *MLP
}

// New creates the network's variables in g: encoder/... (the backbone
// cfg.Arch names, see NewBackbone), projector/... and predictor/.... inCh is
// the image channel count and seed the run seed from which every initial
// value is derived.
func New(g *tfgraph.Graph, cfg configs.Model, inCh int64, seed int64) (*SimSiam, error) {
	return newNetwork(g, cfg, inCh, seed, true)
}

// newNetwork is New, without the predictor when withPredictor is false (a
// method without one: Predictor nil, no predictor/... variables).
func newNetwork(g *tfgraph.Graph, cfg configs.Model, inCh int64, seed int64, withPredictor bool) (*SimSiam, error) {
	return newNetworkIn(g, g.Root(), cfg, inCh, seed, withPredictor)
}

// newNetworkIn is newNetwork with its variables under root (BYOL's target
// network: target/encoder/..., target/projector/...).
func newNetworkIn(g *tfgraph.Graph, root *tfgraph.Scope, cfg configs.Model, inCh int64, seed int64, withPredictor bool) (*SimSiam, error) {
	bc := BackboneConfig{Model: cfg, InChannels: inCh, Seed: seed}
	bn := bc.bn()
	bb, err := NewBackbone(root.Child(EncoderScope), bc)
	if err != nil {
		return nil, err
	}
	proj, err := NewProjector(root.Child("projector"), bb.FeatureDim(), int64(cfg.ProjHidden), int64(cfg.ProjDim), cfg.ProjLayers, bn, seed)
	if err != nil {
		return nil, err
	}
	var pred *MLP
	if withPredictor {
		pred = NewPredictor(root.Child("predictor"), int64(cfg.ProjDim), int64(cfg.PredHidden), bn, seed)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building the network: %w", err)
	}
	return &SimSiam{Cfg: cfg, Backbone: bb, Projector: proj, Predictor: pred}, nil
}

// View is the network's outputs for one view of the batch.
type View struct {
	H, Z, P Output // backbone features, projection, prediction
}

// Forward runs backbone, projector and predictor on x in scope s (P is
// zero without a predictor).
func (n *SimSiam) Forward(s *tfgraph.Scope, x Output, mode tfgraph.Mode) View {
	h := n.Backbone.Apply(s.Child(EncoderScope), x, mode)
	z := s.Identity("z", n.Projector.Apply(s.Child("projector"), h, mode))
	if n.Predictor == nil {
		return View{H: h, Z: z}
	}
	p := s.Identity("p", n.Predictor.Apply(s.Child("predictor"), z, mode))
	return View{H: h, Z: z, P: p}
}

// TowerOutputs are what one tower computes on its slice of the batch.
type TowerOutputs struct {
	V1, V2 View
	// Local is the network's outputs for the local views (multi-crop),
	// all in one batch; zero without local views.
	Local View
	Loss  Output // the method's loss (SimSiam: symmetric negative cosine, MultiCropLoss with local views)
	// Metrics are the method's named scalar metrics, ZStdMetric (the
	// collapse monitor on z1) among them.
	Metrics []Metric
}

// simSiamMethod is SimSiam as a Method: the network n, its loss, and the
// predictor's fixed learning rate with optim.fix_pred_lr.
type simSiamMethod struct {
	n         *SimSiam
	fixPredLR bool
}

// newSimSiamMethod builds SimSiam's network (New) for cfg.
func newSimSiamMethod(g *tfgraph.Graph, cfg *configs.Config, inCh int64) (Method, error) {
	n, err := New(g, cfg.Model, inCh, cfg.Seed)
	if err != nil {
		return nil, err
	}
	return &simSiamMethod{n: n, fixPredLR: cfg.Optim.FixPredLR}, nil
}

func (m *simSiamMethod) Name() string  { return "simsiam" }
func (m *simSiamMethod) Net() *SimSiam { return m.n }

// Tower runs both views through the network (each view separately, so BN
// statistics are per view as in the paper) and builds the loss. With k
// local views (multi-crop) in.Local holds the k views of the batch
// concatenated along the batch, at any side. They run through the network
// as one batch whose BatchNorm uses its own batch statistics and leaves the
// moving statistics alone, which describe the full-size images that
// evaluation sees. The loss is MultiCropLoss. The new BatchNorm moving
// statistics go to mode's updates: the caller assigns them once per step
// (view 2's update starts from view 1's).
func (m *simSiamMethod) Tower(s *tfgraph.Scope, in Views, mode tfgraph.Mode) TowerOutputs {
	n := m.n
	v1 := n.Forward(s.Child("view1"), in.X1, mode)
	v2 := n.Forward(s.Child("view2"), in.X2, mode)
	t := TowerOutputs{V1: v1, V2: v2}
	if k := in.LocalCrops; k > 0 {
		t.Local = n.Forward(s.Child("local"), in.Local, tfgraph.Training(tfgraph.NewUpdates()))
		t.Loss = MultiCropLoss(s.Child("loss"), v1.P, v2.P, v1.Z, v2.Z, t.Local.P, k, n.Cfg.StopGradient)
	} else {
		t.Loss = SymmetricLoss(s.Child("loss"), v1.P, v2.P, v1.Z, v2.Z, n.Cfg.StopGradient)
	}
	t.Metrics = []Metric{{ZStdMetric, CollapseStd(s.Child("monitor"), v1.Z, int64(n.Cfg.ProjDim))}}
	return t
}

// ParamGroup puts the predictor at the fixed base learning rate with
// optim.fix_pred_lr.
func (m *simSiamMethod) ParamGroup(key string) ParamGroup {
	if m.fixPredLR && IsPredictor(key) {
		return FixedLR
	}
	return ScheduledLR
}

// StateUpdates: SimSiam has none.
func (m *simSiamMethod) StateUpdates(*tfgraph.Scope, UpdateContext) []*tfgraph.Operation { return nil }

// IsPredictor reports whether a variable key belongs to the predictor.
func IsPredictor(key string) bool { return len(key) >= 10 && key[:10] == "predictor/" }
