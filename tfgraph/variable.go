package tfgraph

import (
	"fmt"
	"hash/fnv"

	tf "github.com/wamuir/graft/tensorflow"
)

// Initializer builds a variable's initial value in scope s. seed is an int64
// [2] constant unique to the variable, for stateless random ops.
type Initializer func(s *Scope, dims []int64, seed Output) Output

// Variable is a resource variable. Its Key is the op name of its handle and
// the name under which checkpoints store it ("encoder/conv1/kernel").
type Variable struct {
	Key       string
	Dims      []int64
	DType     DataType
	Trainable bool
	Handle    Output
	// Initial is the value the init op assigns.
	Initial Output
	// Assign is the op that sets the variable to Initial.
	Assign *Operation
	read   Output
	scope  *Scope
}

// VarOpt modifies a variable at creation.
type VarOpt func(*Variable)

// NonTrainable marks a variable as state that optimizers leave alone.
func NonTrainable() VarOpt { return func(v *Variable) { v.Trainable = false } }

// WithDType sets the element type (float32 by default).
func WithDType(dt DataType) VarOpt { return func(v *Variable) { v.DType = dt } }

// Var creates the resource variable s.Name()/name with the given shape and
// initializer. seedBase mixes with the key so each variable draws its own
// random stream and the draw does not depend on creation order.
func (s *Scope) Var(name string, dims []int64, init Initializer, seedBase int64, opts ...VarOpt) *Variable {
	key := join(s.ns, name)
	v := &Variable{Key: key, Dims: append([]int64(nil), dims...), DType: Float, Trainable: true}
	for _, o := range opts {
		o(v)
	}
	if s.g.err != nil {
		return v
	}
	if err := validKey(key); err != nil {
		s.g.fail(fmt.Errorf("variable: %w", err))
		return v
	}
	if _, dup := s.g.byKey[key]; dup {
		s.g.fail(fmt.Errorf("variable %q defined twice", key))
		return v
	}
	vs := &Scope{g: s.g, ns: key, device: s.device}
	op := s.g.g
	h, err := op.AddOperation(tf.OpSpec{
		Type: "VarHandleOp", Name: key, Device: s.device,
		Attrs: map[string]any{"dtype": v.DType, "shape": tf.MakeShape(dims...), "shared_name": key, "container": ""},
	})
	if err != nil {
		s.g.fail(fmt.Errorf("variable %q: %w", key, err))
		return v
	}
	s.g.names[key]++
	v.Handle = h.Output(0)
	v.scope = vs
	is := vs.Child("Initializer")
	v.Initial = init(is, dims, is.Const("seed", SeedFor(seedBase, key)))
	if v.Initial.Op != nil && v.DType != v.Initial.DataType() {
		v.Initial = is.Cast(v.Initial, v.DType)
	}
	v.Assign = vs.Op("AssignVariableOp", "Assign", []tf.Input{v.Handle, v.Initial}, map[string]any{"dtype": v.DType})
	s.g.vars = append(s.g.vars, v)
	s.g.byKey[key] = v
	return v
}

// Read returns the variable's value. Every call returns the same read op, so
// all uses within one step see one value and their gradients add up.
func (v *Variable) Read() Output {
	if v.read.Op == nil && v.scope != nil {
		v.read = v.scope.out("ReadVariableOp", "Read", map[string]any{"dtype": v.DType}, v.Handle)
	}
	return v.read
}

// ReadIn returns a new read of the variable, built in scope s as name, so
// that s's control dependencies order it: a value written by an op s
// depends on is the one read (Read's op is shared by the whole step and
// reads before the step's updates).
func (v *Variable) ReadIn(s *Scope, name string) Output {
	return s.out("ReadVariableOp", name, map[string]any{"dtype": v.DType}, v.Handle)
}

// AssignOp returns an op setting the variable to value, built in scope s.
func (v *Variable) AssignOp(s *Scope, name string, value Output) *Operation {
	return s.Op("AssignVariableOp", name, []tf.Input{v.Handle, value}, map[string]any{"dtype": v.DType})
}

// AssignAddOp returns an op adding delta to the variable.
func (v *Variable) AssignAddOp(s *Scope, name string, delta Output) *Operation {
	return s.Op("AssignAddVariableOp", name, []tf.Input{v.Handle, delta}, map[string]any{"dtype": v.DType})
}

// NumElements is the product of the variable's dimensions.
func (v *Variable) NumElements() int64 {
	n := int64(1)
	for _, d := range v.Dims {
		n *= d
	}
	return n
}

// SeedFor derives a stateless-random seed pair from a run seed and a name.
func SeedFor(base int64, name string) []int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := h.Sum64()
	return []int64{base, int64(x >> 1)}
}

// InitOp groups every variable's Assign into one op named name.
func (g *Graph) InitOp(name string) *Operation {
	ops := make([]*Operation, 0, len(g.vars))
	for _, v := range g.vars {
		ops = append(ops, v.Assign)
	}
	return g.Root().Group(name, ops...)
}

// Zeros initialises to 0.
func Zeros() Initializer { return Fill(0) }

// Ones initialises to 1.
func Ones() Initializer { return Fill(1) }

// Fill initialises every element to c.
func Fill(c float32) Initializer {
	return func(s *Scope, dims []int64, _ Output) Output {
		if len(dims) == 0 {
			return s.Const("value", c)
		}
		d32 := make([]int32, len(dims))
		for i, d := range dims {
			d32[i] = int32(d)
		}
		return s.out("Fill", "Fill", nil, s.Const("dims", d32), s.Const("value", c))
	}
}

// Normal draws from N(0, std²) with a stateless op.
func Normal(std float32) Initializer {
	return func(s *Scope, dims []int64, seed Output) Output {
		return s.Mul(s.StatelessNormal("normal", dims, seed), s.Const("std", std))
	}
}

// Uniform draws from U(-limit, limit) with a stateless op.
func Uniform(limit float32) Initializer {
	return func(s *Scope, dims []int64, seed Output) Output {
		u := s.StatelessUniform("uniform", s.Const("shape", dims), seed)
		return s.Mul(s.Sub(s.Mul(u, s.Const("two", float32(2))), s.Const("one", float32(1))), s.Const("limit", limit))
	}
}
