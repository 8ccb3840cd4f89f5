// Package tfgraph is the graph plumbing of the project: a thin layer over the
// TensorFlow C API (through github.com/wamuir/graft) that builds graphs with
// stable, readable operation names, resource variables, layers, optimizers,
// checkpoints, SavedModels and summaries. It knows nothing of SimSiam.
//
// All cgo in the project stays behind this package: other packages use the
// aliases Output, Tensor and Operation and the helpers defined here.
package tfgraph

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
)

// Output is one output of a graph operation (a symbolic tensor).
type Output = tf.Output

// Tensor is a concrete tensor value held in TensorFlow's memory.
type Tensor = tf.Tensor

// Operation is a node of the graph.
type Operation = tf.Operation

// Input is anything usable as an op input (an Output or an OutputList).
type Input = tf.Input

// DataType is a TensorFlow element type.
type DataType = tf.DataType

// Element types used by the project.
const (
	Float  = tf.Float
	Double = tf.Double
	Int32  = tf.Int32
	Int64  = tf.Int64
	Uint8  = tf.Uint8
	String = tf.String
	Bool   = tf.Bool
	// BFloat16 and Half are the low-precision types of mixed precision
	// (the rewrites create them; the project's own ops never do).
	BFloat16 = tf.Bfloat16
	Half     = tf.Half
)

// NewTensor converts a Go value (scalar, slice or nested slices) to a Tensor.
func NewTensor(v any) (*Tensor, error) { return tf.NewTensor(v) }

// Graph owns a TensorFlow graph under construction. The first error met while
// adding operations is kept and returned by Err; later additions are skipped,
// so builders can chain calls and check once.
type Graph struct {
	g     *tf.Graph
	names map[string]int
	err   error
	vars  []*Variable
	byKey map[string]*Variable
	// device is where ops of scopes without a device of their own go.
	device string
	// funcs are the graph functions imported into the graph's library.
	funcs map[string]bool
}

// NewGraph starts an empty graph.
func NewGraph() *Graph {
	return &Graph{g: tf.NewGraph(), names: map[string]int{}, byKey: map[string]*Variable{}}
}

// Err is the first error met while building, or nil.
func (g *Graph) Err() error { return g.err }

// GraphDef serialises the graph as a tensorflow.GraphDef protocol buffer
// (for tools and tests that inspect the graph). It fails when building
// failed.
func (g *Graph) GraphDef() ([]byte, error) {
	if g.err != nil {
		return nil, g.err
	}
	var buf bytes.Buffer
	if _, err := g.g.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialising the graph: %w", err)
	}
	return buf.Bytes(), nil
}

// SetDevice makes device (for example "/device:GPU:0") the device of every
// op added afterwards in a scope that names none, Root's included. The
// default, "", leaves placement to TensorFlow. Gradient ops made by
// Gradients carry no device and follow TensorFlow's placer.
func (g *Graph) SetDevice(device string) { g.device = device }

// Device is the graph's default device (see SetDevice).
func (g *Graph) Device() string { return g.device }

// Root is the scope with no name prefix and no control inputs, on the
// graph's default device.
func (g *Graph) Root() *Scope { return &Scope{g: g, device: g.device} }

// Variables lists every variable in creation order.
func (g *Graph) Variables() []*Variable { return append([]*Variable(nil), g.vars...) }

// Variable returns the variable with the given checkpoint key, or nil.
func (g *Graph) Variable(key string) *Variable { return g.byKey[key] }

// Trainable lists the trainable variables in creation order.
func (g *Graph) Trainable() []*Variable {
	var out []*Variable
	for _, v := range g.vars {
		if v.Trainable {
			out = append(out, v)
		}
	}
	return out
}

// Operation looks up an operation by its full name.
func (g *Graph) Operation(name string) *Operation { return g.g.Operation(name) }

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// uniqueName returns name, or name_N when name is taken.
func (g *Graph) uniqueName(name string) string {
	n := g.names[name]
	g.names[name] = n + 1
	if n == 0 && g.g.Operation(name) == nil {
		return name
	}
	for {
		cand := fmt.Sprintf("%s_%d", name, n)
		n++
		if g.g.Operation(cand) == nil {
			g.names[name] = n
			return cand
		}
	}
}

// Scope is a position in the graph's name hierarchy with an optional device
// and control dependencies. Scopes are cheap values; derive new ones with Child,
// WithDevice and WithControl.
type Scope struct {
	g      *Graph
	ns     string
	device string
	deps   []*Operation
}

// Graph returns the graph the scope builds.
func (s *Scope) Graph() *Graph { return s.g }

// Name is the scope's prefix ("encoder/layer1/0").
func (s *Scope) Name() string { return s.ns }

// Device is the device ops built in this scope are pinned to ("" = any).
func (s *Scope) Device() string { return s.device }

// Child returns the child scope "name" (joined with "/").
func (s *Scope) Child(name string) *Scope {
	c := *s
	c.ns = join(s.ns, name)
	return &c
}

// WithDevice pins the scope's ops to a device such as "/device:GPU:0".
func (s *Scope) WithDevice(device string) *Scope {
	c := *s
	c.device = device
	return &c
}

// OnHost pins the scope's ops to the CPU of the scope's task: the place of
// file I/O (checkpoints, summaries) and string tensors, which have no GPU
// kernels. See HostDevice.
func (s *Scope) OnHost() *Scope { return s.WithDevice(HostDevice(s.device)) }

// WithControl makes the scope's ops run after ops.
func (s *Scope) WithControl(ops ...*Operation) *Scope {
	c := *s
	c.deps = append(append([]*Operation(nil), s.deps...), ops...)
	return &c
}

// Err is the graph's first build error.
func (s *Scope) Err() error { return s.g.err }

// Fail records err as the graph's build error unless an earlier one is
// already recorded (nil is ignored). Builders above this package call it on
// bad arguments: every later op of the graph is then skipped and returns an
// empty Output, and the error comes out of Err and NewSession.
func (s *Scope) Fail(err error) {
	if err != nil {
		s.g.fail(err)
	}
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// Op adds an operation of type typ named name (made unique) in the scope. It
// returns nil when the graph already failed or when adding fails; the error is
// then available from Err.
func (s *Scope) Op(typ, name string, inputs []tf.Input, attrs map[string]any) *Operation {
	if s.g.err != nil {
		return nil
	}
	for i, in := range inputs {
		if problem := checkInput(in); problem != "" {
			s.g.fail(fmt.Errorf("%s %q: input %d %s", typ, join(s.ns, name), i, problem))
			return nil
		}
	}
	if name == "" {
		name = typ
	}
	full := s.g.uniqueName(join(s.ns, name))
	op, err := s.g.g.AddOperation(tf.OpSpec{
		Type: typ, Name: full, Input: inputs, Attrs: attrs,
		ControlDependencies: s.deps, Device: s.device,
	})
	if err != nil {
		s.g.fail(fmt.Errorf("adding %s %q: %w", typ, full, err))
		return nil
	}
	return op
}

// checkInput describes an input graft cannot take (nil, or an empty Output
// alone or in an OutputList: the result of a failed build step, or a zero
// value), or returns "".
func checkInput(in tf.Input) string {
	switch v := in.(type) {
	case nil:
		return "is nil"
	case tf.Output:
		if v.Op == nil {
			return "is empty"
		}
	case tf.OutputList:
		for j, o := range v {
			if o.Op == nil {
				return fmt.Sprintf("element %d is empty", j)
			}
		}
	}
	return ""
}

// out adds a single-output op and returns its output (empty on failure).
func (s *Scope) out(typ, name string, attrs map[string]any, inputs ...tf.Input) Output {
	op := s.Op(typ, name, inputs, attrs)
	if op == nil {
		return Output{}
	}
	return op.Output(0)
}

// Group returns a NoOp named name that runs after all ops.
func (s *Scope) Group(name string, ops ...*Operation) *Operation {
	var deps []*Operation
	for _, o := range ops {
		if o != nil {
			deps = append(deps, o)
		}
	}
	return s.WithControl(deps...).Op("NoOp", name, nil, nil)
}

// OpNames lists every operation name in the graph, sorted (for tests and tools).
func (g *Graph) OpNames() []string {
	ops := g.g.Operations()
	names := make([]string, 0, len(ops))
	for _, o := range ops {
		names = append(names, o.Name())
	}
	sort.Strings(names)
	return names
}

// validKey reports whether name is usable as a variable or op name.
func validKey(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return fmt.Errorf("invalid name %q", name)
	}
	return nil
}
