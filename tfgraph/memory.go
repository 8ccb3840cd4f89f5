package tfgraph

import (
	"sort"
	"strconv"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"
)

// MemoryEstimate is what one run of a graph holds, counted from the
// graph's static shapes: the variables (weights and optimiser slots) and
// the outputs of every operation under the given name prefixes, with
// unknown leading (batch) dimensions taken as a given batch.
type MemoryEstimate struct {
	// Variables is the bytes of every variable of the graph.
	Variables int64
	// Outputs is the bytes of the counted operations' outputs at the batch.
	Outputs int64
	// PerImage is the part of Outputs that grows with the batch, per image.
	PerImage int64
	// Largest lists the biggest outputs, largest first (at most 5).
	Largest []OutputBytes
}

// OutputBytes is one operation output's size at the estimate's batch.
type OutputBytes struct {
	Name  string // "op:index"
	Bytes int64
}

// Total is Variables + Outputs.
func (m MemoryEstimate) Total() int64 { return m.Variables + m.Outputs }

// EstimateMemory counts g's variables and the outputs of the operations
// whose names start with one of prefixes (all, when none is given) at the
// given batch. It is an upper bound of what TensorFlow keeps alive at
// once in a step (it frees a tensor after its last use; the forward
// activations a backward pass needs are most of it), not of what it
// allocates in kernels' scratch space. Outputs whose shape has an unknown
// dimension other than the first are skipped.
func (g *Graph) EstimateMemory(batch int64, prefixes ...string) MemoryEstimate {
	var m MemoryEstimate
	for _, v := range g.vars {
		m.Variables += elements(v.Dims, 1) * int64(dtypeBytes(v.DType))
	}
	var all []OutputBytes
	for _, op := range g.g.Operations() {
		if !hasAnyPrefix(op.Name(), prefixes) {
			continue
		}
		switch op.Type() {
		case "VarHandleOp", "NoOp", "Const", "Placeholder", "PlaceholderWithDefault":
			continue // variables are counted once above; feeds are the caller's
		}
		for i := 0; i < op.NumOutputs(); i++ {
			out := op.Output(i)
			size := dtypeBytes(out.DataType())
			if size == 0 {
				continue
			}
			dims, batched, ok := staticDims(out.Shape())
			if !ok {
				continue
			}
			per := elements(dims, 1) * int64(size)
			if batched {
				m.PerImage += per
				per *= batch
			}
			m.Outputs += per
			all = append(all, OutputBytes{Name: op.Name() + ":" + strconv.Itoa(i), Bytes: per})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Bytes > all[j].Bytes })
	m.Largest = all[:min(5, len(all))]
	return m
}

func hasAnyPrefix(name string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// staticDims returns a shape's dimensions with an unknown first one as 1
// (batched true); ok is false for an unknown rank or another unknown
// dimension.
func staticDims(s tf.Shape) (dims []int64, batched, ok bool) {
	n := s.NumDimensions()
	if n < 0 {
		return nil, false, false
	}
	dims = make([]int64, n)
	for i := range dims {
		d := s.Size(i)
		if d < 0 {
			if i != 0 {
				return nil, false, false
			}
			d, batched = 1, true
		}
		dims[i] = d
	}
	return dims, batched, true
}

func elements(dims []int64, start int64) int64 {
	n := start
	for _, d := range dims {
		n *= d
	}
	return n
}

// dtypeBytes is the size of one element of dt, 0 for types not counted
// (strings, resources, variants).
func dtypeBytes(dt DataType) int {
	switch dt {
	case tf.Double, tf.Int64, tf.Uint64, tf.Complex64:
		return 8
	case tf.Float, tf.Int32, tf.Uint32:
		return 4
	case tf.Half, tf.Bfloat16, tf.Int16, tf.Uint16:
		return 2
	case tf.Int8, tf.Uint8, tf.Bool:
		return 1
	}
	return 0
}
