package train

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// runJob runs one data-parallel job of n workers in this process, each on
// its own TF server on a loopback port, worker r with the config
// cfgFor(r) and the options o (its Replicas and Log set here; collective
// timeout 30 s, barrier 60 s), and returns every worker's error and log.
func runJob(t *testing.T, n int, cfgFor func(rank int) *configs.Config, o Options) ([]error, []string) {
	t.Helper()
	var tasks []tfgraph.TaskAddr
	cluster := tfgraph.Cluster{}
	for i := range n {
		addr := freePort(t)
		tasks = append(tasks, tfgraph.TaskAddr{Job: "worker", Index: i, Addr: addr})
		cluster["worker"] = append(cluster["worker"], addr)
	}
	errs := make([]error, n)
	logs := make([]strings.Builder, n)
	var wg sync.WaitGroup
	for i := range n {
		srv, err := tfgraph.NewServer(cluster, "worker", i, tfgraph.ServerOptions{CollectiveGroupLeader: tasks[0].Device()})
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfgFor(i)
		wo := o
		wo.Log = &logs[i]
		wo.Replicas = &Replicas{Rank: i, Tasks: tasks, Target: srv.Target(), Hint: "ring", CollectiveTimeout: 30, BarrierTimeout: 60}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Run(context.Background(), cfg, wo)
		}()
	}
	wg.Wait()
	out := make([]string, n)
	for i := range logs {
		out[i] = logs[i].String()
	}
	return errs, out
}
