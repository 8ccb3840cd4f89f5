package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// SimSiam holds the variables of the three parts of the network.
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
	bc := BackboneConfig{Model: cfg, InChannels: inCh, Seed: seed}
	bn := bc.bn()
	root := g.Root()
	bb, err := NewBackbone(root.Child(EncoderScope), bc)
	if err != nil {
		return nil, err
	}
	proj, err := NewProjector(root.Child("projector"), bb.FeatureDim(), int64(cfg.ProjHidden), int64(cfg.ProjDim), cfg.ProjLayers, bn, seed)
	if err != nil {
		return nil, err
	}
	pred := NewPredictor(root.Child("predictor"), int64(cfg.ProjDim), int64(cfg.PredHidden), bn, seed)
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building the network: %w", err)
	}
	return &SimSiam{Cfg: cfg, Backbone: bb, Projector: proj, Predictor: pred}, nil
}

// View is the network's outputs for one view of the batch.
type View struct {
	H, Z, P Output // backbone features, projection, prediction
}

// Forward runs backbone, projector and predictor on x in scope s.
func (n *SimSiam) Forward(s *tfgraph.Scope, x Output, mode tfgraph.Mode) View {
	h := n.Backbone.Apply(s.Child(EncoderScope), x, mode)
	z := s.Identity("z", n.Projector.Apply(s.Child("projector"), h, mode))
	p := s.Identity("p", n.Predictor.Apply(s.Child("predictor"), z, mode))
	return View{H: h, Z: z, P: p}
}

// TowerOutputs are what one tower computes on its slice of the batch.
type TowerOutputs struct {
	V1, V2 View
	// Local is the network's outputs for the local views (multi-crop),
	// all in one batch; zero without local views.
	Local View
	Loss  Output // symmetric negative cosine (MultiCropLoss with local views)
	ZStd  Output // collapse monitor on z1
}

// Tower runs both views through the network (each view separately, so BN
// statistics are per view as in the paper) and builds the loss, in scope s
// on the scope's device. The new BatchNorm moving statistics go to bn: the
// caller assigns them once per step (view 2's update starts from view 1's).
func (n *SimSiam) Tower(s *tfgraph.Scope, x1, x2 Output, bn *tfgraph.Updates) TowerOutputs {
	return n.TowerIn(s, x1, x2, tfgraph.Training(bn))
}

// TowerIn is Tower in the given training mode (tfgraph.TrainingSync for
// BatchNorm over the global batch of a data-parallel job).
func (n *SimSiam) TowerIn(s *tfgraph.Scope, x1, x2 Output, mode tfgraph.Mode) TowerOutputs {
	return n.TowerLocal(s, x1, x2, Output{}, 0, mode)
}

// TowerLocal is TowerIn with k local views (multi-crop) in local: the k
// views of the batch concatenated along the batch, at any side. They run
// through the network as one batch whose BatchNorm uses its own batch
// statistics and leaves the moving statistics alone, which describe the
// full-size images that evaluation sees. The loss is MultiCropLoss. k 0
// (local ignored) builds exactly TowerIn's graph.
func (n *SimSiam) TowerLocal(s *tfgraph.Scope, x1, x2, local Output, k int, mode tfgraph.Mode) TowerOutputs {
	v1 := n.Forward(s.Child("view1"), x1, mode)
	v2 := n.Forward(s.Child("view2"), x2, mode)
	t := TowerOutputs{V1: v1, V2: v2}
	if k > 0 {
		t.Local = n.Forward(s.Child("local"), local, tfgraph.Training(tfgraph.NewUpdates()))
		t.Loss = MultiCropLoss(s.Child("loss"), v1.P, v2.P, v1.Z, v2.Z, t.Local.P, k, n.Cfg.StopGradient)
	} else {
		t.Loss = SymmetricLoss(s.Child("loss"), v1.P, v2.P, v1.Z, v2.Z, n.Cfg.StopGradient)
	}
	t.ZStd = CollapseStd(s.Child("monitor"), v1.Z, int64(n.Cfg.ProjDim))
	return t
}

// IsPredictor reports whether a variable key belongs to the predictor.
func IsPredictor(key string) bool { return len(key) >= 10 && key[:10] == "predictor/" }
