package tfgraph

import (
	"testing"
	"time"
)

// TestProbeBF16 measures both precisions on the probe graph and checks the
// property the measurement rests on: the bf16 session really runs the
// convolutions and the MatMul (forward and gradients) in bfloat16, and the
// fp32 one nothing. The speedup itself depends on the CPU and is logged.
func TestProbeBF16(t *testing.T) {
	if !inOneDNNProcess(t) {
		return
	}
	g, fetch, err := probeGraph()
	if err != nil {
		t.Fatal(err)
	}
	init := g.InitOp("init_check")
	for _, tc := range []struct {
		p    Precision
		want bool
	}{{PrecisionFP32, false}, {PrecisionBF16, true}} {
		nodes, err := OptimizedGraph(g, SessionOptions{Precision: tc.p}, nil, init, fetch.Op)
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		for _, op := range []string{"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul"} {
			n, bf := 0, 0
			for _, nd := range nodes {
				if nd.Op == op || nd.Op == "_MklNative"+op || nd.Op == "_Mkl"+op || nd.Op == "_MklNativeFused"+op || nd.Op == "_Fused"+op {
					n++
					if nd.hasType("DT_BFLOAT16") {
						bf++
					}
				}
			}
			t.Logf("%s: %s nodes %d, in bfloat16 %d", tc.p, op, n, bf)
			if tc.want && bf == 0 {
				t.Errorf("%s: no %s runs in bfloat16; the probe would time float32 twice", tc.p, op)
			}
			if !tc.want && bf > 0 {
				t.Errorf("%s: %d %s nodes in bfloat16", tc.p, bf, op)
			}
		}
	}
	r, err := ProbeBF16(SessionOptions{}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fp32 %v, bf16 %v, speedup %.2f over %d runs each", r.FP32, r.BF16, r.Speedup, r.Runs)
	if r.Runs < 3 || r.FP32 <= 0 || r.BF16 <= 0 {
		t.Fatalf("probe = %+v, want at least 3 timed runs of each", r)
	}
	if want := float64(r.FP32) / float64(r.BF16); r.Speedup != want {
		t.Errorf("speedup %v, want fp32/bf16 = %v", r.Speedup, want)
	}
}
