package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// Momentum is SGD with momentum as PyTorch defines it (dampening 0, not
// Nesterov): accum = momentum*accum + grad; var -= lr*accum. Weight decay is
// coupled: wd*var is added to the gradient first. TF's ResourceApplyMomentum
// does the update.
type Momentum struct {
	Momentum    float32
	WeightDecay float32
	// Slots maps a variable key to its momentum accumulator.
	Slots map[string]*Variable
}

// Apply builds the update of every variable in grads, each with the learning
// rate lr(v) (a float32 scalar). Slots are created as
// optimizer/<variable key>/momentum. The returned op runs all updates.
func (m *Momentum) Apply(s *Scope, vars []*Variable, grads []Output, lr func(*Variable) Output) *Operation {
	if !checkGradients(s, vars, grads) {
		return nil
	}
	mom := s.Const("momentum", m.Momentum)
	wd := s.Const("weight_decay", m.WeightDecay)
	var ops []*Operation
	for i, v := range vars {
		g := grads[i]
		vs := s.Child(v.Key)
		slot := momentumSlot(&m.Slots, vs, v)
		if m.WeightDecay != 0 {
			g = vs.Add(g, vs.Mul(wd, v.Read()))
		}
		ops = append(ops, vs.Op("ResourceApplyMomentum", "apply", []tf.Input{v.Handle, slot.Handle, lr(v), g, mom},
			map[string]any{"T": Float, "use_locking": false, "use_nesterov": false}))
	}
	return s.Group("apply", ops...)
}

// checkGradients fails the graph unless grads holds one gradient for each
// of vars.
func checkGradients(s *Scope, vars []*Variable, grads []Output) bool {
	if len(vars) != len(grads) {
		s.g.fail(fmt.Errorf("optimizer: %d variables but %d gradients", len(vars), len(grads)))
		return false
	}
	for i, v := range vars {
		if grads[i].Op == nil {
			s.g.fail(fmt.Errorf("optimizer: no gradient for %s (is it used by the loss?)", v.Key))
			return false
		}
	}
	return true
}

// momentumSlot is v's momentum accumulator in *slots, created in vs (the
// variable's scope under the optimizer's) as "momentum" the first time.
func momentumSlot(slots *map[string]*Variable, vs *Scope, v *Variable) *Variable {
	if *slots == nil {
		*slots = map[string]*Variable{}
	}
	slot := (*slots)[v.Key]
	if slot == nil {
		slot = vs.Var("momentum", v.Dims, Zeros(), 0, NonTrainable())
		(*slots)[v.Key] = slot
	}
	return slot
}

// Gradients returns d(y)/d(read of each variable), in the order of vars.
func (g *Graph) Gradients(prefix string, y Output, vars []*Variable) ([]Output, error) {
	if g.err != nil {
		return nil, g.err
	}
	xs := make([]Output, len(vars))
	for i, v := range vars {
		xs[i] = v.Read()
	}
	out, err := g.g.AddGradients(prefix, []Output{y}, xs, nil)
	if err != nil {
		return nil, fmt.Errorf("gradients: %w", err)
	}
	return out, nil
}
