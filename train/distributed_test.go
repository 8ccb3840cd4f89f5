package train

import (
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runTowers runs two steps with the given towers and session options and
// returns the losses.
func runTowers(t *testing.T, devices []string, opts tfgraph.SessionOptions) []float32 {
	t.Helper()
	cfg := tinyConfig()
	cfg.Runtime.Devices = devices
	st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := NewSession(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(9, 9))
	a, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	var losses []float32
	for i := 0; i < 2; i++ {
		s, err := sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, s.Loss)
	}
	return losses
}

// TestTowersOnTwoWorkers runs the step with one tower on each of two TF
// gRPC workers (TensorFlow's distributed runtime, on loopback) and checks it
// computes what the same two towers compute on two local CPU devices.
func TestTowersOnTwoWorkers(t *testing.T) {
	cluster := tfgraph.Cluster{"worker": {freePort(t), freePort(t)}}
	w0, err := tfgraph.NewServer(cluster, "worker", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tfgraph.NewServer(cluster, "worker", 1); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w0.Target(), "grpc://") {
		t.Fatalf("target %q", w0.Target())
	}
	remote := runTowers(t, []string{"/job:worker/task:0/device:CPU:0", "/job:worker/task:1/device:CPU:0"},
		tfgraph.SessionOptions{Target: w0.Target()})
	local := runTowers(t, []string{"/device:CPU:0", "/device:CPU:1"}, tfgraph.SessionOptions{CPUDevices: 2})
	for i := range local {
		if math.Abs(float64(remote[i]-local[i])) > 1e-5 {
			t.Errorf("step %d: loss on two workers %v, on two local devices %v", i, remote[i], local[i])
		}
	}
	t.Logf("losses: two workers %v, two local CPU devices %v", remote, local)
}

func TestParseTFConfig(t *testing.T) {
	c, err := tfgraph.ParseTFConfig(`{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}`)
	if err != nil || c.Task.Index != 1 || c.Cluster["worker"][1] != "b:2" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{`{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}`, `{"clust": {}}`, `nope`} {
		if _, err := tfgraph.ParseTFConfig(bad); err == nil {
			t.Errorf("TF_CONFIG %s accepted", bad)
		}
	}
}
