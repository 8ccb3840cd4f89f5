package tfgraph

import tf "github.com/wamuir/graft/tensorflow"

// Switch forwards data to ifTrue when the bool scalar pred is true and to
// ifFalse otherwise; the other output is dead, and so is every op that
// consumes it, by data or control edge (TensorFlow 1 control flow), until a
// Merge.
func (s *Scope) Switch(data, pred Output) (ifFalse, ifTrue Output) {
	op := s.Op("Switch", "", []tf.Input{data, pred}, nil)
	if op == nil {
		return Output{}, Output{}
	}
	return op.Output(0), op.Output(1)
}

// Merge forwards the first of xs that is alive (all of one type); it is
// alive when any input is, and revives what a Switch killed.
func (s *Scope) Merge(name string, xs ...Output) Output {
	return s.out("Merge", name, nil, tf.OutputList(xs))
}

// Gate runs a group of ops only when a bool scalar is true, the way
// TensorFlow 1's tf.cond does: the ops built in Scope carry a control edge
// from the true branch of a Switch, so when the predicate is false they are
// dead and do not run; Join gives an op that is alive either way and, when
// the predicate is true, runs after the gated ops.
type Gate struct {
	s               *Scope
	ifFalse, ifTrue Output
}

// NewGate builds the Switch on pred in scope s (named s/switch,
// s/applied and s/skipped).
func (s *Scope) NewGate(pred Output) *Gate {
	f, t := s.Switch(pred, pred)
	return &Gate{s: s, ifFalse: s.Identity("skipped", f), ifTrue: s.Identity("applied", t)}
}

// Scope is s with a control edge from the gate's true branch: every op
// built in it (or its children) runs only when the predicate is true.
func (g *Gate) Scope(s *Scope) *Scope {
	if g.ifTrue.Op == nil {
		return s
	}
	return s.WithControl(g.ifTrue.Op)
}

// Join returns an op named name that runs whether the predicate is true
// or false; when it is true, after all of ops (which should be gated).
func (g *Gate) Join(name string, ops ...*Operation) *Operation {
	var deps []*Operation
	for _, o := range ops {
		if o != nil {
			deps = append(deps, o)
		}
	}
	done := g.Scope(g.s).WithControl(deps...).Identity("done", g.ifTrue)
	m := g.s.Merge(name, g.ifFalse, done)
	return m.Op
}
