package train

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// replicaSet is n workers of a data-parallel job inside the test process:
// a TF gRPC server on loopback for each, and a step and session on it.
type replicaSet struct {
	steps []*Step
	sess  []*Session
}

// newReplicaSet starts n workers on loopback with the given timeouts.
func newReplicaSet(t *testing.T, n int, build func(r *Replicas) (*Step, error), timeout float64) *replicaSet {
	t.Helper()
	var tasks []tfgraph.TaskAddr
	cluster := tfgraph.Cluster{}
	for i := 0; i < n; i++ {
		addr := freePort(t)
		tasks = append(tasks, tfgraph.TaskAddr{Job: "worker", Index: i, Addr: addr})
		cluster["worker"] = append(cluster["worker"], addr)
	}
	rs := &replicaSet{}
	for i := 0; i < n; i++ {
		srv, err := tfgraph.NewServer(cluster, "worker", i, tfgraph.ServerOptions{CollectiveGroupLeader: tasks[0].Device()})
		if err != nil {
			t.Fatal(err)
		}
		r := &Replicas{Rank: i, Tasks: tasks, CollectiveTimeout: timeout, BarrierTimeout: timeout, Hint: "ring"}
		st, err := build(r)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := NewSession(st, tfgraph.SessionOptions{Target: srv.Target(), DeviceFilters: []string{tasks[i].Device()}})
		if err != nil {
			t.Fatal(err)
		}
		rs.steps = append(rs.steps, st)
		rs.sess = append(rs.sess, sess)
	}
	return rs
}

// each runs f for every worker concurrently and fails on the first error.
func (rs *replicaSet) each(t *testing.T, f func(i int) error) {
	t.Helper()
	errs := make([]error, len(rs.sess))
	var wg sync.WaitGroup
	for i := range rs.sess {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(i) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
}

func TestReplicasBroadcastAndStep(t *testing.T) {
	cfg := tinyConfig()
	rs := newReplicaSet(t, 2, func(r *Replicas) (*Step, error) {
		c := *cfg
		c.Seed = int64(r.Rank) // different initial weights: the broadcast must fix that
		return BuildStep(&c, StepOptions{StepsPerEpoch: 10, TotalSteps: 10, Replicas: r})
	}, 20)
	rs.each(t, func(i int) error { _, err := rs.sess[i].Run(nil, nil, rs.steps[i].Sync); return err })
	r := rand.New(rand.NewPCG(9, 9))
	a, _ := tfgraph.NewTensor(randomBatch(r, 4, 16, 3))
	b, _ := tfgraph.NewTensor(randomBatch(r, 4, 16, 3))
	for step := 0; step < 2; step++ {
		rs.each(t, func(i int) error {
			s, err := rs.sess[i].TrainStep(map[Output]*tfgraph.Tensor{rs.steps[i].X1: a, rs.steps[i].X2: b})
			t.Logf("worker %d step %d: %+v", i, step, s)
			return err
		})
	}
	fmt.Println()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
