// Package placement checks, without a GPU, where the ops of a graph run
// when the graph is placed on one: it reads the kernels the CUDA build of
// TensorFlow 2.18.1 registers (gpu-kernels.tsv, written by make gpu-check)
// and classifies every node as on the GPU, on the host on purpose (file
// I/O and strings), or moved to the host because the GPU has no kernel for
// its types. The tests of train, eval and export run it on every graph the
// program runs.
package placement

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/simsiam-go/simsiam/tfgraph"
)

//go:embed gpu-kernels.tsv
var gpuKernels []byte

// GPUKernels is the table of TensorFlow 2.18.1's GPU kernels.
func GPUKernels() (*tfgraph.KernelTable, error) {
	return tfgraph.ReadKernelTable(bytes.NewReader(gpuKernels))
}

// ioOps are the op types that only ever run on the host: checkpoint and
// summary file I/O.
var ioOps = map[string]bool{
	"SaveV2": true, "RestoreV2": true, "MergeV2Checkpoints": true, "ShardedFilename": true, "StringJoin": true,
	"SummaryWriter": true, "CreateSummaryFileWriter": true, "WriteScalarSummary": true, "WriteSummary": true,
	"FlushSummaryWriter": true, "CloseSummaryWriter": true,
}

// IsIO reports whether n belongs on the host: a file I/O op, or an op whose
// types include strings (file names, tags).
func IsIO(n tfgraph.Node) bool {
	if ioOps[n.Op] {
		return true
	}
	for _, ts := range n.Types {
		for _, t := range ts {
			if t == "DT_STRING" {
				return true
			}
		}
	}
	return false
}

// Edge is a tensor that crosses between the host and the GPU.
type Edge struct {
	From, To string // "node:index" and the consuming node
	DType    tfgraph.DataType
	Dims     []int64 // static shape, -1 unknown
	ToGPU    bool
}

// Bytes is the tensor's size with every unknown dimension set to batch
// (0 when the element size is not fixed, as for strings and resources).
func (e Edge) Bytes(batch int64) int64 {
	size := map[tfgraph.DataType]int64{tfgraph.Float: 4, tfgraph.Double: 8, tfgraph.Int32: 4, tfgraph.Int64: 8,
		tfgraph.Uint8: 1, tfgraph.Bool: 1}[e.DType]
	for _, d := range e.Dims {
		if d < 0 {
			d = batch
		}
		size *= d
	}
	return size
}

// Report is where a graph's nodes run on a GPU.
type Report struct {
	Nodes int
	// Missing are nodes meant for the GPU that it has no kernel for.
	Missing []tfgraph.Node
	// HostNotIO are nodes pinned to the CPU that are not I/O.
	HostNotIO []tfgraph.Node
	// Crossings are the tensors that move between host and GPU.
	Crossings []Edge
}

// Problems lists Missing and HostNotIO, one line each, "" when none.
func (r *Report) Problems() string {
	var b strings.Builder
	for _, n := range r.Missing {
		fmt.Fprintf(&b, "no GPU kernel: %s (%s %s)\n", n.Name, n.Op, typesText(n))
	}
	for _, n := range r.HostNotIO {
		fmt.Fprintf(&b, "pinned to the CPU but not I/O: %s (%s %s) on %s\n", n.Name, n.Op, typesText(n), n.Device)
	}
	return b.String()
}

func typesText(n tfgraph.Node) string {
	keys := make([]string, 0, len(n.Types))
	for k := range n.Types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strings.Join(n.Types[k], ",")
	}
	return strings.Join(parts, " ")
}

// Check places g's nodes for a GPU. With roots, only the nodes those
// depend on (data and control inputs, transitively) are considered: the
// subgraph one Session.Run of them executes.
func Check(g *tfgraph.Graph, roots ...string) (*Report, error) {
	table, err := GPUKernels()
	if err != nil {
		return nil, err
	}
	nodes, err := g.Nodes()
	if err != nil {
		return nil, err
	}
	if len(roots) > 0 {
		nodes = closure(nodes, roots)
	}
	placed, err := table.Place(nodes, "GPU")
	if err != nil {
		return nil, err
	}
	onHost := map[string]bool{}
	consumers := map[string][]string{}
	r := &Report{Nodes: len(nodes)}
	for _, p := range placed {
		if p.OnHost || p.Missing {
			onHost[p.Node.Name] = true
		}
		for _, in := range p.Node.Inputs {
			src, _, _ := strings.Cut(in, ":")
			consumers[src] = append(consumers[src], p.Node.Name)
		}
	}
	// A node pinned to the host is there on purpose when it is I/O, a NoOp,
	// or feeds only host nodes (the constants and placeholders of I/O ops).
	feedsHostOnly := func(name string) bool {
		for _, c := range consumers[name] {
			if !onHost[c] {
				return false
			}
		}
		return true
	}
	for _, p := range placed {
		switch {
		case p.OnHost && !IsIO(p.Node) && p.Node.Op != "NoOp" && !feedsHostOnly(p.Node.Name):
			r.HostNotIO = append(r.HostNotIO, p.Node)
		case p.Missing:
			r.Missing = append(r.Missing, p.Node)
		}
	}
	describe := func(e Edge, src string, i int) Edge {
		if op := g.Operation(src); op != nil && i < op.NumOutputs() {
			out := op.Output(i)
			e.DType = out.DataType()
			if dims, err := out.Shape().ToSlice(); err == nil {
				e.Dims = dims
			}
		}
		return e
	}
	for _, p := range placed {
		if p.Node.Op == "Placeholder" && !onHost[p.Node.Name] {
			// Fed from the client, i.e. from host memory.
			r.Crossings = append(r.Crossings, describe(Edge{From: "(feed)", To: p.Node.Name, ToGPU: true}, p.Node.Name, 0))
		}
		for _, in := range p.Node.Inputs {
			src, idx, _ := strings.Cut(in, ":")
			if onHost[src] == onHost[p.Node.Name] {
				continue
			}
			var i int
			fmt.Sscan(idx, &i)
			r.Crossings = append(r.Crossings, describe(Edge{From: in, To: p.Node.Name, ToGPU: onHost[src]}, src, i))
		}
	}
	return r, nil
}

// closure keeps the nodes roots depend on.
func closure(nodes []tfgraph.Node, roots []string) []tfgraph.Node {
	byName := make(map[string]tfgraph.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	keep := map[string]bool{}
	stack := append([]string(nil), roots...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if keep[name] {
			continue
		}
		n, ok := byName[name]
		if !ok {
			continue
		}
		keep[name] = true
		for _, in := range n.Inputs {
			src, _, _ := strings.Cut(in, ":")
			stack = append(stack, src)
		}
		stack = append(stack, n.Control...)
	}
	var out []tfgraph.Node
	for _, n := range nodes {
		if keep[n.Name] {
			out = append(out, n)
		}
	}
	return out
}
