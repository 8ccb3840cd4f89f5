package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// updateGraphs rewrites testdata/graph_golden.txt:
// go test ./train -run TestGraphGolden -update-graphs.
var updateGraphs = flag.Bool("update-graphs", false, "rewrite testdata/graph_golden.txt")

const graphGoldenFile = "testdata/graph_golden.txt"

// graphDigests are three digests of g: the GraphDef serialised
// deterministically (every byte: names, ops, inputs, devices, attributes
// and constants), the node names and ops in graph order, and the variable
// keys with their shapes (the checkpoint's contents).
func graphDigests(t *testing.T, g *tfgraph.Graph) (def, nodes, vars string) {
	t.Helper()
	raw, err := g.GraphDef()
	if err != nil {
		t.Fatal(err)
	}
	var gd gpb.GraphDef
	if err := proto.Unmarshal(raw, &gd); err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&gd)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	var nb, vb strings.Builder
	for _, n := range gd.Node {
		fmt.Fprintf(&nb, "%s %s\n", n.Name, n.Op)
	}
	for _, v := range g.Variables() {
		fmt.Fprintf(&vb, "%s %v\n", v.Key, v.Dims)
	}
	return sum(b), sum([]byte(nb.String())), sum([]byte(vb.String()))
}

// TestGraphGolden pins the training graphs of the Fashion-MNIST demo
// preset, byte for byte: the step alone (placeholders, as the parity tests
// build it), the whole run graph (in-graph augmentation, kNN monitor,
// summaries), the multi-crop and fix_pred_lr variants, and the step of
// every other method on the demo. Python users and
// checkpoints depend on every node and variable name, so a refactoring of
// how the step is built must leave these digests alone.
func TestGraphGolden(t *testing.T) {
	base := []string{"runtime.precision=fp32"}
	cases := []struct {
		name string
		sets []string
		run  bool
	}{
		{"demo_step", nil, false},
		{"demo_run", nil, true},
		{"demo_step_multicrop", []string{"augment.local_crops=2"}, false},
		{"demo_step_decaying_predictor", []string{"optim.fix_pred_lr=false"}, false},
		// The other methods' graphs, pinned from their first version on.
		{"simclr_step", []string{"method.name=simclr", "method.simclr.temperature=0.5"}, false},
		{"barlow_twins_step", []string{"method.name=barlow_twins"}, false},
		{"byol_step", []string{"method.name=byol", "optim.fix_pred_lr=false"}, false},
	}
	got := map[string]string{}
	var order []string
	for _, c := range cases {
		cfg, err := configs.Load(configs.LoadOptions{Preset: "fashion_mnist_demo", Sets: append(append([]string(nil), base...), c.sets...)})
		if err != nil {
			t.Fatal(err)
		}
		var g *tfgraph.Graph
		if c.run {
			p, _, _, err := BuildRunGraph(cfg, 937, 2811, testMonitor())
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			g = p.Graph
		} else {
			st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 937, TotalSteps: 2811})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			g = st.Graph
		}
		d, n, v := graphDigests(t, g)
		for _, kv := range [][2]string{{"graphdef", d}, {"nodes", n}, {"variables", v}} {
			k := c.name + " " + kv[0]
			got[k] = kv[1]
			order = append(order, k)
		}
	}
	if *updateGraphs {
		var b strings.Builder
		b.WriteString("# sha256 digests of the demo preset's training graphs (TestGraphGolden)\n")
		for _, k := range order {
			fmt.Fprintf(&b, "%s %s\n", k, got[k])
		}
		if err := os.WriteFile(filepath.FromSlash(graphGoldenFile), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(filepath.FromSlash(graphGoldenFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		want[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range order {
		if want[k] == "" {
			t.Errorf("%s: no golden digest (run with -update-graphs)", k)
		} else if got[k] != want[k] {
			t.Errorf("%s: digest %s, golden %s", k, got[k], want[k])
		}
	}
}
