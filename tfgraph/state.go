package tfgraph

// Pending state updates. A value such as a BatchNorm moving mean may be updated
// several times in one step (once per view): each update must start from the
// previous one, as sequential forward passes would, and the variable is
// assigned once at the end. StateValue and SetState thread the value through
// the graph; FlushState creates the assignments.

// StateValue is the current value of v within the step being built: the
// last value given to SetState, or v's read.
func (g *Graph) StateValue(v *Variable) Output {
	if g.pending != nil {
		if o, ok := g.pending[v]; ok {
			return o
		}
	}
	return v.Read()
}

// SetState records value as v's new value for the step being built.
func (g *Graph) SetState(v *Variable, value Output) {
	if g.pending == nil {
		g.pending = map[*Variable]Output{}
	}
	if _, ok := g.pending[v]; !ok {
		g.pendingOrder = append(g.pendingOrder, v)
	}
	g.pending[v] = value
}

// FlushState assigns every pending value to its variable (in scope s) and
// returns the assignment ops; the pending set is cleared.
func (g *Graph) FlushState(s *Scope) []*Operation {
	var ops []*Operation
	for _, v := range g.pendingOrder {
		ops = append(ops, v.AssignOp(s, v.Key, g.pending[v]))
	}
	g.pending, g.pendingOrder = nil, nil
	return ops
}
