package tfgraph

import (
	"strings"
	"testing"
)

const testTable = `# source: test
# ops: Cast CropAndResize NoOp TopKV2
CropAndResize	GPU	T=DT_DOUBLE,DT_FLOAT,DT_HALF	crop_size
Cast	GPU	DstT=DT_FLOAT;SrcT=DT_UINT8	-
TopKV2	GPU	T=DT_FLOAT;index_type=DT_INT32;sorted=true	-
NoOp	DEFAULT	-	-
`

func TestKernelTablePlace(t *testing.T) {
	table, err := ReadKernelTable(strings.NewReader(testTable))
	if err != nil {
		t.Fatal(err)
	}
	if table.Source != "test" || !table.Ops["NoOp"] {
		t.Fatalf("header not read: %+v", table)
	}
	node := func(name, op, dev string, types map[string][]string) Node {
		return Node{Name: name, Op: op, Device: dev, Types: types}
	}
	nodes := []Node{
		node("crop_u8", "CropAndResize", "/device:GPU:0", map[string][]string{"T": {"DT_UINT8"}}),
		node("crop_f32", "CropAndResize", "", map[string][]string{"T": {"DT_FLOAT"}}),
		node("cast", "Cast", "/device:GPU:0", map[string][]string{"SrcT": {"DT_UINT8"}, "DstT": {"DT_FLOAT"}}),
		node("topk", "TopKV2", "", map[string][]string{"T": {"DT_FLOAT"}, "index_type": {"DT_INT32"}, "sorted": {"true"}}),
		node("topk_unsorted", "TopKV2", "", map[string][]string{"T": {"DT_FLOAT"}, "index_type": {"DT_INT32"}, "sorted": {"false"}}),
		node("noop", "NoOp", "/device:GPU:0", nil),
		node("host", "CropAndResize", "/device:CPU:0", map[string][]string{"T": {"DT_UINT8"}}),
	}
	placed, err := table.Place(nodes, "GPU")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]bool{ // missing, on host
		"crop_u8": {true, false}, "crop_f32": {false, false}, "cast": {false, false}, "topk": {false, false},
		"topk_unsorted": {true, false}, "noop": {false, false}, "host": {false, true},
	}
	for _, p := range placed {
		if w := want[p.Node.Name]; p.Missing != w[0] || p.OnHost != w[1] {
			t.Errorf("%s: missing %v on host %v, want %v %v", p.Node.Name, p.Missing, p.OnHost, w[0], w[1])
		}
	}
	if _, err := table.Place([]Node{node("x", "Conv2D", "", nil)}, "GPU"); err == nil || !strings.Contains(err.Error(), "does not cover Conv2D") {
		t.Errorf("an op outside the table: %v", err)
	}
}

func TestReadKernelTableErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no ops line":    "Cast\tGPU\t-\t-\n",
		"three fields":   "# ops: Cast\nCast\tGPU\t-\n",
		"bad constraint": "# ops: Cast\nCast\tGPU\tSrcT\t-\n",
		"unknown type":   "# ops: Cast\nCast\tGPU\tSrcT=DT_NOPE\t-\n",
		"op not listed":  "# ops: Cast\nAdd\tGPU\t-\t-\n",
	} {
		if _, err := ReadKernelTable(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNodesReadsTypesAndInputs(t *testing.T) {
	g := NewGraph()
	s := g.Root().WithDevice("/device:GPU:0")
	x := s.Placeholder("x", Uint8, []int64{-1, 4})
	y := s.WithControl(x.Op).Cast(x, Float)
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	nodes, err := g.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	var cast *Node
	for i := range nodes {
		if nodes[i].Name == y.Op.Name() {
			cast = &nodes[i]
		}
	}
	if cast == nil {
		t.Fatalf("no %s among %v", y.Op.Name(), nodes)
	}
	if cast.Op != "Cast" || cast.Device != "/device:GPU:0" || cast.Types["SrcT"][0] != "DT_UINT8" || cast.Types["DstT"][0] != "DT_FLOAT" {
		t.Errorf("cast node %+v", cast)
	}
	if len(cast.Inputs) != 1 || cast.Inputs[0] != "x:0" || len(cast.Control) != 1 || cast.Control[0] != "x" {
		t.Errorf("inputs %v control %v", cast.Inputs, cast.Control)
	}
}
