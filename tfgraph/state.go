package tfgraph

// Updates collects the new values of state variables (BatchNorm's moving
// statistics) computed while a training step is built. A value may be
// updated several times in one step (once per view, once per tower): each
// update starts from the previous one, as sequential forward passes would,
// and the variable is assigned once, by Assign, at the end. The collector
// is passed explicitly (tfgraph.Training(u)), so which ops update which
// state is visible at the call site.
type Updates struct {
	values map[*Variable]Output
	order  []*Variable
}

// NewUpdates starts an empty collector.
func NewUpdates() *Updates { return &Updates{values: map[*Variable]Output{}} }

// Value is v's current value within the step being built: the last value
// given to Set, or v's read.
func (u *Updates) Value(v *Variable) Output {
	if o, ok := u.values[v]; ok {
		return o
	}
	return v.Read()
}

// Set records value as v's new value.
func (u *Updates) Set(v *Variable, value Output) {
	if _, ok := u.values[v]; !ok {
		u.order = append(u.order, v)
	}
	u.values[v] = value
}

// Values are the new values, in the order their variables were first
// updated.
func (u *Updates) Values() []Output {
	out := make([]Output, len(u.order))
	for i, v := range u.order {
		out[i] = u.values[v]
	}
	return out
}

// Variables are the updated variables, in the order of Values.
func (u *Updates) Variables() []*Variable { return append([]*Variable(nil), u.order...) }

// Len is the number of variables with a new value.
func (u *Updates) Len() int { return len(u.order) }

// Assign creates one assignment per updated variable, in the order they
// were first updated, in scope s (named after the variable) and returns
// the ops.
func (u *Updates) Assign(s *Scope) []*Operation {
	ops := make([]*Operation, 0, len(u.order))
	for _, v := range u.order {
		ops = append(ops, v.AssignOp(s, v.Key, u.values[v]))
	}
	return ops
}
