package tfgraph

import (
	"net"
	"sync"
	"testing"
)

// TestAllReduceSumDiff: two workers (TF servers on loopback in this
// process) each sum-all-reduce their x and take the gradient of
// sum(w_i * y) with respect to x: the forward value is x0 + x1 on both, and
// the gradient is w0 + w1 on both (the gradient of a sum over every
// member's input), not the local w_i a plain identity would give.
func TestAllReduceSumDiff(t *testing.T) {
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	cluster := Cluster{"worker": addrs}
	xs := [][]float32{{1, 2, 3}, {10, 20, 30}}
	ws := [][]float32{{1, 1, 1}, {2, 3, 4}}
	got := make([][2][]float32, 2)
	errs := make([]error, 2)
	var sess [2]*Session
	var fetch [2][]Output
	for i := range 2 {
		srv, err := NewServer(cluster, "worker", i, ServerOptions{CollectiveGroupLeader: "/job:worker/replica:0/task:0"})
		if err != nil {
			t.Fatal(err)
		}
		g := NewGraph()
		s := g.Root()
		x := s.Placeholder("x", Float, []int64{3})
		y := s.AllReduceSumDiff("sum", x, Group{Size: 2, Key: 7, Hint: "ring"}, 5, 20)
		loss := s.Sum(s.Mul(y, s.Const("w", ws[i])), false, 0)
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		dx, err := g.g.AddGradients("grad", []Output{loss}, []Output{x}, nil)
		if err != nil {
			t.Fatalf("gradients through the all-reduce: %v", err)
		}
		fetch[i] = []Output{y, dx[0]}
		if sess[i], err = NewSession(g, SessionOptions{Target: srv.Target(), DeviceFilters: []string{"/job:worker/replica:0/task:" + string(rune('0'+i))}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			xt, _ := NewTensor(xs[i])
			x := sess[i].Graph.Operation("x").Output(0)
			out, err := sess[i].Run(map[Output]*Tensor{x: xt}, fetch[i])
			if errs[i] = err; err == nil {
				got[i] = [2][]float32{out[0].Value().([]float32), out[1].Value().([]float32)}
			}
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		for j := range 3 {
			if y, dx := got[i][0][j], got[i][1][j]; y != xs[0][j]+xs[1][j] || dx != ws[0][j]+ws[1][j] {
				t.Errorf("worker %d element %d: y %v dx %v, want %v and %v", i, j, y, dx, xs[0][j]+xs[1][j], ws[0][j]+ws[1][j])
			}
		}
	}
	t.Logf("y %v, dx %v", got[0][0], got[0][1])
}
