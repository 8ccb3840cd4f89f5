package tfgraph

// LARS is SGD with momentum whose learning rate is scaled, per variable,
// by the trust ratio eta * ||w|| / ||g|| (You et al., 2017), in the form
// SimCLR's TensorFlow code gives it: for a variable Exclude does not name,
// g = grad + wd*w and ratio = eta*||w||/||g|| (1 when either norm is 0);
// an excluded one (biases and BatchNorm parameters) gets neither weight
// decay nor the ratio. Then accum = momentum*accum + lr*ratio*g and
// var -= accum: the learning rate is inside the accumulator, as in SimCLR,
// not outside it as in Momentum (PyTorch's form).
type LARS struct {
	Momentum, WeightDecay, Eta float32
	// Exclude reports the variables that keep plain momentum SGD.
	Exclude func(key string) bool
	// Slots maps a variable key to its momentum accumulator
	// (optimizer/<variable key>/momentum, as Momentum names them).
	Slots map[string]*Variable
}

// Apply builds the update of every variable in grads with the learning
// rate lr(v) (a float32 scalar); the returned op runs all updates.
func (m *LARS) Apply(s *Scope, vars []*Variable, grads []Output, lr func(*Variable) Output) *Operation {
	if !checkGradients(s, vars, grads) {
		return nil
	}
	mom := s.Const("momentum", m.Momentum)
	wd := s.Const("weight_decay", m.WeightDecay)
	eta := s.Const("eta", m.Eta)
	zero, one := s.Const("zero", float32(0)), s.Const("one", float32(1))
	var ops []*Operation
	for i, v := range vars {
		g := grads[i]
		vs := s.Child(v.Key)
		slot := momentumSlot(&m.Slots, vs, v)
		w := v.Read()
		rate := lr(v)
		if m.Exclude == nil || !m.Exclude(v.Key) {
			g = vs.Add(g, vs.Mul(wd, w))
			wn := vs.Sqrt(vs.Sum(vs.Reshape(vs.Square(w), -1), false, 0))
			gn := vs.Sqrt(vs.Sum(vs.Reshape(vs.Square(g), -1), false, 0))
			ratio := vs.Select(vs.Less(zero, wn), vs.Select(vs.Less(zero, gn), vs.Div(vs.Mul(eta, wn), gn), one), one)
			rate = vs.Identity("lars_lr", vs.Mul(rate, ratio))
		}
		next := vs.Add(vs.Mul(mom, slot.Read()), vs.Mul(rate, g))
		setSlot := slot.AssignOp(vs, "assign_momentum", next)
		setVar := v.AssignOp(vs, "apply", vs.Sub(w, next))
		ops = append(ops, setSlot, setVar)
	}
	return s.Group("apply", ops...)
}
