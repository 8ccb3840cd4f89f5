package train

import "github.com/simsiam-go/simsiam/tfgraph"

// Dynamic loss scaling for float16 training, as TensorFlow's
// LossScaleOptimizer does it: the gradients are taken of loss*scale and
// divided by scale; a step whose gradients are not finite is skipped (the
// update gate) and halves the scale (never below 1); GrowthSteps finite
// steps in a row double it.
const (
	// InitialLossScale is the scale of the first step (2^15, TensorFlow's).
	InitialLossScale = 32768
	// DefaultLossScaleGrowthSteps is TensorFlow's growth interval.
	DefaultLossScaleGrowthSteps = 2000
)

// LossScaler holds the scale (loss_scale/scale, float32) and the count of
// finite steps since it last changed (loss_scale/good_steps, int64), both
// in checkpoints.
type LossScaler struct {
	Scale, GoodSteps *tfgraph.Variable
	// GrowthSteps is the number of finite steps that doubles the scale.
	GrowthSteps int64
	// NewScale is the scale after this step (fetched with the loss).
	NewScale Output
	s        *tfgraph.Scope
}

func newLossScaler(s *tfgraph.Scope, growth int64) *LossScaler {
	if growth <= 0 {
		growth = DefaultLossScaleGrowthSteps
	}
	return &LossScaler{
		Scale:       s.Var("scale", nil, tfgraph.Fill(InitialLossScale), 0, tfgraph.NonTrainable()),
		GoodSteps:   s.Var("good_steps", nil, tfgraph.Zeros(), 0, tfgraph.NonTrainable(), tfgraph.WithDType(tfgraph.Int64)),
		GrowthSteps: growth,
		s:           s,
	}
}

// scale is loss*scale, the tensor the gradients are taken of.
func (l *LossScaler) scale(loss Output) Output {
	return l.s.Identity("scaled_loss", l.s.Mul(loss, l.Scale.Read()))
}

// unscale divides every gradient by the scale.
func (l *LossScaler) unscale(grads []Output) []Output {
	us := l.s.Child("unscale")
	inv := us.Div(us.Const("one", float32(1)), l.Scale.Read())
	out := make([]Output, len(grads))
	for i, g := range grads {
		out[i] = us.Mul(g, inv)
	}
	return out
}

// update builds the new scale and count from gradsFinite (a bool scalar)
// and returns their assignments.
func (l *LossScaler) update(gradsFinite Output) []*tfgraph.Operation {
	s := l.s.Child("update")
	scale, good := l.Scale.Read(), l.GoodSteps.Read()
	next := s.Add(good, s.Const("one", int64(1)))
	grow := s.LogicalAnd(gradsFinite, s.LessEqual(s.Const("growth_steps", l.GrowthSteps), next))
	doubled := s.Mul(scale, s.Const("two", float32(2)))
	// A doubled scale that overflows float32 stays where it is.
	doubled = s.Select(s.IsFinite(doubled), doubled, scale)
	halved := s.Maximum(s.Mul(scale, s.Const("half", float32(0.5))), s.Const("one", float32(1)))
	newScale := s.Select(gradsFinite, s.Select(grow, doubled, scale), halved)
	zero := s.Const("zero", int64(0))
	newGood := s.Select(gradsFinite, s.Select(grow, zero, next), zero)
	l.NewScale = s.Identity("new_scale", newScale)
	return []*tfgraph.Operation{
		l.Scale.AssignOp(s, "assign_scale", l.NewScale),
		l.GoodSteps.AssignOp(s, "assign_good_steps", newGood),
	}
}
