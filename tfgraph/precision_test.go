package tfgraph

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// inOneDNNProcess runs the calling test again in a child process with
// TensorFlow's oneDNN kernels on (TF reads TF_ENABLE_ONEDNN_OPTS when it
// loads, and the bf16 rewrite needs them) and reports whether the caller
// is that child. The parent fails when the child fails and passes the
// child's log on.
func inOneDNNProcess(t *testing.T) bool {
	t.Helper()
	if on, _ := OneDNNEnabled(); on {
		return true
	}
	if os.Getenv("SIMSIAM_ONEDNN_CHILD") != "" {
		t.Fatal("the child process still has oneDNN off")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), OneDNNEnv+"=1", "SIMSIAM_ONEDNN_CHILD=1")
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, ".go:") || strings.Contains(l, "FAIL") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if err != nil {
		t.Fatalf("%s with %s=1: %v", t.Name(), OneDNNEnv, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s with %s=1 did not pass", t.Name(), OneDNNEnv)
	}
	return false
}

// TestOptimizedGraphShowsBF16Rewrite: with PrecisionBF16 grappler's
// oneDNN bfloat16 rewrite turns a float32 MatMul into a bfloat16 one with
// casts around it (seen in the partition graph); fp32 leaves every node
// float32. The bf16 product stays within bfloat16's precision of fp32's.
func TestOptimizedGraphShowsBF16Rewrite(t *testing.T) {
	if !inOneDNNProcess(t) {
		return
	}
	g := NewGraph()
	s := g.Root()
	x := s.Placeholder("x", Float, []int64{-1, 64})
	w := s.Var("w", []int64{64, 32}, Normal(0.1), 1)
	y := s.Identity("y", s.Relu(s.MatMul(x, w.Read(), false, false)))
	// A reduction after it, as in SimSiam's loss (l2 normalisation, cosine).
	l := s.Child("loss")
	sq := l.Sum(l.Square(y), false, 1)
	loss := l.Identity("loss", l.Mean(sq, false, 0))
	init := g.InitOp("init")
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([][]float32, 16)
	for i := range xs {
		xs[i] = make([]float32, 64)
		for j := range xs[i] {
			xs[i][j] = float32(r.NormFloat64())
		}
	}
	xt, _ := NewTensor(xs)
	results := map[Precision][][]float32{}
	for _, tc := range []struct {
		p        Precision
		wantBF16 bool
	}{{PrecisionFP32, false}, {PrecisionBF16, true}} {
		o := SessionOptions{Precision: tc.p}
		nodes, err := OptimizedGraph(g, o, map[Output]*Tensor{x: xt}, init, y.Op, loss.Op)
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		bf := CountOfType(nodes, "DT_BFLOAT16")
		t.Logf("%s: %d nodes, %d with bfloat16 types", tc.p, len(nodes), bf)
		if (bf > 0) != tc.wantBF16 {
			t.Errorf("%s: %d bfloat16 nodes", tc.p, bf)
		}
		if tc.wantBF16 {
			var mm Node
			for _, n := range nodes {
				if n.Name == "MatMul" {
					mm = n
				}
			}
			if got := mm.Types["T"]; len(got) != 1 || got[0] != "DT_BFLOAT16" {
				t.Errorf("bf16: MatMul runs as %v, want DT_BFLOAT16", got)
			}
			for _, n := range nodes {
				if strings.HasPrefix(n.Name, "loss/") && n.hasType("DT_BFLOAT16") {
					t.Errorf("bf16: %s %s runs in bfloat16; Float32Ops keep the loss's reductions float32", n.Op, n.Name)
				}
			}
			if CountOps(nodes, "Cast") < 2 {
				t.Errorf("bf16: want casts around the MatMul, got %d", CountOps(nodes, "Cast"))
			}
		}
		sess, err := NewSession(g, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Run(nil, nil, init); err != nil {
			t.Fatal(err)
		}
		out, err := sess.Run(map[Output]*Tensor{x: xt}, []Output{y})
		sess.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out[0].DataType() != Float {
			t.Errorf("%s: output is %v, want float32", tc.p, out[0].DataType())
		}
		results[tc.p], _ = Value[[][]float32](out[0])
	}
	var num, den float64
	for i, row := range results[PrecisionFP32] {
		for j, v := range row {
			d := float64(results[PrecisionBF16][i][j] - v)
			num, den = num+d*d, den+float64(v)*float64(v)
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("bf16 vs fp32 relative error %.2e", rel)
	if rel == 0 || rel > 2e-2 {
		t.Errorf("bf16 vs fp32 relative error %.2e: want above 0 (bf16 really ran) and below 2e-2", rel)
	}
}

// TestBF16NeedsOneDNN: without the oneDNN kernels the bf16 rewrite does
// nothing, silently; a session asking for it is refused instead.
func TestBF16NeedsOneDNN(t *testing.T) {
	if on, _ := OneDNNEnabled(); on {
		t.Log("oneDNN is on in this process: nothing to refuse")
		return
	}
	g := NewGraph()
	g.Root().Const("c", float32(1))
	_, err := NewSession(g, SessionOptions{Precision: PrecisionBF16})
	if err == nil || !strings.Contains(err.Error(), OneDNNEnv) {
		t.Fatalf("bf16 without oneDNN: err = %v, want one naming %s", err, OneDNNEnv)
	}
}

// TestPrecisionRewrites: each precision sets exactly its rewrite in the
// ConfigProto; an unknown one is an error naming it.
func TestPrecisionRewrites(t *testing.T) {
	for _, tc := range []struct {
		p    Precision
		want string
	}{{"", ""}, {PrecisionFP32, ""}, {PrecisionBF16, "AutoMixedPrecisionOnednnBfloat16"},
		{PrecisionFP16, "AutoMixedPrecision"}, {PrecisionFP16CPU, "AutoMixedPrecisionCpu"}} {
		rw, err := tc.p.rewrites()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if rw != nil {
			switch {
			case rw.AutoMixedPrecisionOnednnBfloat16 == pb.RewriterConfig_ON:
				got = "AutoMixedPrecisionOnednnBfloat16"
			case rw.AutoMixedPrecision == pb.RewriterConfig_ON:
				got = "AutoMixedPrecision"
			case rw.AutoMixedPrecisionCpu == pb.RewriterConfig_ON:
				got = "AutoMixedPrecisionCpu"
			}
		}
		if got != tc.want {
			t.Errorf("%q: rewrite %q, want %q", tc.p, got, tc.want)
		}
	}
	if _, err := (SessionOptions{Precision: "fp8"}).ConfigProto(); err == nil || !strings.Contains(err.Error(), "fp8") {
		t.Errorf("fp8: err = %v", err)
	}
}
