package tfgraph

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	avpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	tpb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"
)

// Node is one node of a graph as TensorFlow stores it: its op, the device
// it was built for and the type attributes that select its kernel.
type Node struct {
	Name, Op, Device string
	// Types holds every attribute of type "type" or "list(type)", by name
	// ("T", "dtype", "Tidx", "dtypes"), as TensorFlow's enum names
	// ("DT_FLOAT"); bool and int attributes, which some kernels constrain
	// too, are there as "true"/"false" and decimal numbers.
	Types map[string][]string
	// Inputs are the data inputs as "node:index"; Control names the nodes
	// the node runs after.
	Inputs, Control []string
}

// Nodes lists the graph's nodes from its GraphDef, in the graph's order.
func (g *Graph) Nodes() ([]Node, error) {
	var buf bytes.Buffer
	if _, err := g.g.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialising the graph: %w", err)
	}
	var def gpb.GraphDef
	if err := proto.Unmarshal(buf.Bytes(), &def); err != nil {
		return nil, fmt.Errorf("reading the GraphDef: %w", err)
	}
	return nodesOf(&def), nil
}

// nodesOf lists def's nodes in its order.
func nodesOf(def *gpb.GraphDef) []Node {
	out := make([]Node, 0, len(def.Node))
	for _, nd := range def.Node {
		n := Node{Name: nd.Name, Op: nd.Op, Device: nd.Device, Types: map[string][]string{}}
		for name, v := range nd.Attr {
			switch x := v.Value.(type) {
			case *avpb.AttrValue_Type:
				n.Types[name] = []string{x.Type.String()}
				continue
			case *avpb.AttrValue_B:
				n.Types[name] = []string{strconv.FormatBool(x.B)}
				continue
			case *avpb.AttrValue_I:
				n.Types[name] = []string{strconv.FormatInt(x.I, 10)}
				continue
			}
			if l := v.GetList(); l != nil && len(l.Type) > 0 {
				for _, t := range l.Type {
					n.Types[name] = append(n.Types[name], t.String())
				}
			}
		}
		for _, in := range nd.Input {
			if c, ok := strings.CutPrefix(in, "^"); ok {
				n.Control = append(n.Control, c)
				continue
			}
			if !strings.Contains(in, ":") {
				in += ":0"
			}
			n.Inputs = append(n.Inputs, in)
		}
		out = append(out, n)
	}
	return out
}

// Kernel is one kernel registration: the op it implements on a device type
// and, per type attribute it constrains, the types it accepts.
type Kernel struct {
	Op, Device  string
	Constraints map[string][]string
	// HostMemory names the arguments the kernel keeps in host memory.
	HostMemory []string
}

// accepts reports whether the kernel's constraints admit the node's types
// (TensorFlow's rule: every value of a constrained attribute is allowed).
func (k Kernel) accepts(n Node) bool {
	for attr, allowed := range k.Constraints {
		got, ok := n.Types[attr]
		if !ok {
			return false
		}
		for _, t := range got {
			if !slices.Contains(allowed, t) {
				return false
			}
		}
	}
	return true
}

// KernelTable is a list of TensorFlow kernel registrations for a set of
// ops (Ops), as written by third_party/libtensorflow/kernels.py from the
// registry of a TensorFlow build.
type KernelTable struct {
	// Ops are the op types the table was made for: an op outside it is
	// unknown, not an op without kernels.
	Ops     map[string]bool
	kernels map[string][]Kernel
	// Source is the header's description of the build the table came from.
	Source string
}

// ReadKernelTable parses a kernel table: "#" comment lines (one of them
// "# ops: A B C" naming the ops covered, another "# source: ..."), then one
// kernel a line, tab-separated: op, device type, constraints
// ("T=DT_FLOAT,DT_HALF;Tidx=DT_INT32;is_max_k=true" or "-"), host-memory arguments
// ("shape,seed" or "-").
func ReadKernelTable(r io.Reader) (*KernelTable, error) {
	t := &KernelTable{Ops: map[string]bool{}, kernels: map[string][]Kernel{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(text, "#"); ok {
			rest = strings.TrimSpace(rest)
			if ops, ok := strings.CutPrefix(rest, "ops:"); ok {
				for _, op := range strings.Fields(ops) {
					t.Ops[op] = true
				}
			}
			if src, ok := strings.CutPrefix(rest, "source:"); ok {
				t.Source = strings.TrimSpace(src)
			}
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("kernel table line %d: %d fields, want 4 (op, device, constraints, host memory)", line, len(f))
		}
		k := Kernel{Op: f[0], Device: f[1], Constraints: map[string][]string{}}
		if f[2] != "-" {
			for _, c := range strings.Split(f[2], ";") {
				name, values, ok := strings.Cut(c, "=")
				if !ok || name == "" || values == "" {
					return nil, fmt.Errorf("kernel table line %d: constraint %q is not ATTR=VALUE,VALUE", line, c)
				}
				for _, v := range strings.Split(values, ",") {
					if _, ok := tpb.DataType_value[v]; !ok && strings.HasPrefix(v, "DT_") {
						return nil, fmt.Errorf("kernel table line %d: unknown type %q", line, v)
					}
				}
				k.Constraints[name] = strings.Split(values, ",")
			}
		}
		if f[3] != "-" {
			k.HostMemory = strings.Split(f[3], ",")
		}
		if !t.Ops[k.Op] {
			return nil, fmt.Errorf("kernel table line %d: op %s is not in the table's \"# ops:\" line", line, k.Op)
		}
		t.kernels[k.Op] = append(t.kernels[k.Op], k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the kernel table: %w", err)
	}
	if len(t.Ops) == 0 {
		return nil, fmt.Errorf("kernel table: no \"# ops:\" line")
	}
	return t, nil
}

// Kernels are the registrations for op on device (TensorFlow's DEFAULT
// registrations count for every device but the CPU).
func (t *KernelTable) Kernels(op, device string) []Kernel {
	var out []Kernel
	for _, k := range t.kernels[op] {
		if k.Device == device || (k.Device == "DEFAULT" && device != "CPU") {
			out = append(out, k)
		}
	}
	return out
}

// Has reports whether some kernel of n's op on device accepts n's types.
func (t *KernelTable) Has(n Node, device string) bool {
	for _, k := range t.Kernels(n.Op, device) {
		if k.accepts(n) {
			return true
		}
	}
	return false
}

// Placement says where a node of a graph runs when the graph is placed
// for an accelerator of type Device: ops built for that device, and ops
// built for no device (TensorFlow's placer prefers the accelerator), go
// there when it has a kernel for them; the rest run on the host CPU.
type Placement struct {
	Device string // "GPU"
	Node   Node
	// OnHost: the node was built for the CPU on purpose (Device names a CPU).
	OnHost bool
	// Missing: the node is meant for the accelerator, which has no kernel
	// for its op and types, so TensorFlow's soft placement moves it to the CPU.
	Missing bool
}

// Place classifies every node for an accelerator of type device ("GPU").
// It fails on an op the table does not cover, naming the ops, so a table
// older than the graph is found out rather than trusted.
func (t *KernelTable) Place(nodes []Node, device string) ([]Placement, error) {
	var unknown []string
	out := make([]Placement, len(nodes))
	for i, n := range nodes {
		p := Placement{Device: device, Node: n}
		spec, err := ParseDevice(n.Device)
		switch {
		case n.Device != "" && err != nil:
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		case n.Device != "" && spec.Type == "CPU":
			p.OnHost = true
		case !t.Ops[n.Op]:
			if !slices.Contains(unknown, n.Op) {
				unknown = append(unknown, n.Op)
			}
		default:
			p.Missing = !t.Has(n, device)
		}
		out[i] = p
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("the kernel table does not cover %s (run make gpu-check to remake it)", strings.Join(unknown, ", "))
	}
	return out, nil
}
