package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// TestPlan: the worker's rank among the chief and workers, the all-reduce
// its devices choose, the timeouts from the config, and the TF_CONFIGs a
// training task cannot run with (configuration errors).
func TestPlan(t *testing.T) {
	const two = `"cluster":{"chief":["h0:1"],"worker":["h1:1","h2:1"]}`
	for _, tc := range []struct {
		name, tfConfig, target string
		devices                []string
		rank                   int
		hint, err              string
	}{
		{"chief on CPU", `{` + two + `,"task":{"type":"chief","index":0}}`, "", []string{"/device:CPU:0"}, 0, "ring", ""},
		{"second worker on GPU", `{` + two + `,"task":{"type":"worker","index":1}}`, "", []string{"/device:GPU:0"}, 2, "nccl", ""},
		{"no devices", `{` + two + `,"task":{"type":"worker","index":0}}`, "", nil, 1, "ring", ""},
		{"parameter server", `{"cluster":{"worker":["h1:1"],"ps":["h9:1"]},"task":{"type":"ps","index":0}}`, "", []string{"/device:CPU:0"}, 0, "", `task type "ps"`},
		{"runtime.target too", `{` + two + `,"task":{"type":"chief","index":0}}`, "grpc://h5:1", []string{"/device:CPU:0"}, 0, "", "runtime.target is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := tfgraph.ParseTFConfig(tc.tfConfig)
			if err != nil {
				t.Fatal(err)
			}
			cfg := configs.Default()
			cfg.Runtime.Target, cfg.Runtime.CollectiveTimeoutS, cfg.Runtime.BarrierTimeoutS = tc.target, 7, 11
			rep, err := plan(parsed, &cfg, tc.devices)
			if tc.err != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want a ConfigError with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rank != tc.rank || rep.Size() != 3 || rep.Hint != tc.hint || rep.CollectiveTimeout != 7 || rep.BarrierTimeout != 11 {
				t.Errorf("got rank %d of %d, %s, timeouts %g/%g; want rank %d of 3, %s, 7/11", rep.Rank, rep.Size(), rep.Hint,
					rep.CollectiveTimeout, rep.BarrierTimeout, tc.rank, tc.hint)
			}
			if rep.Tasks[0].Job != "chief" {
				t.Errorf("task 0 is %+v, want the chief (the group leader)", rep.Tasks[0])
			}
		})
	}
}

// TestJoinWithoutTFConfig: no TF_CONFIG is a process training alone; a
// malformed one is a configuration error.
func TestJoinWithoutTFConfig(t *testing.T) {
	cfg := configs.Default()
	t.Setenv("TF_CONFIG", "")
	rep, err := Join(context.Background(), &cfg, []string{"/device:CPU:0"}, io.Discard)
	if rep != nil || err != nil {
		t.Errorf("Join without TF_CONFIG = %+v, %v; want nil, nil", rep, err)
	}
	t.Setenv("TF_CONFIG", "{not json")
	var ce *ConfigError
	if _, err := Join(context.Background(), &cfg, []string{"/device:CPU:0"}, io.Discard); !errors.As(err, &ce) {
		t.Errorf("Join with a malformed TF_CONFIG: %v, want a ConfigError", err)
	}
}

// TestWaitForPeers: a worker whose chief is absent (nothing on its port) or
// is not a TF server (a listener that accepts and says nothing) gives up at
// the barrier timeout naming the chief; a signal (ctx cancelled) stops the
// wait at once; a chief that is there passes.
func TestWaitForPeers(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { time.Sleep(5 * time.Second); c.Close() }()
		}
	}()
	rep := func(chief string) *train.Replicas {
		return &train.Replicas{Rank: 1, Tasks: []tfgraph.TaskAddr{{Job: "worker", Index: 0, Addr: chief}, {Job: "worker", Index: 1, Addr: free()}}}
	}
	for _, tc := range []struct{ name, addr, want string }{
		{"absent", free(), "connection refused"},
		{"not a TF server", silent.Addr().String(), "not a gRPC server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			start := time.Now()
			err := WaitForPeers(context.Background(), rep(tc.addr), time.Second, &log)
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "worker 1 of 2: the chief, worker 0 ("+tc.addr+") is not there") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v", err)
			}
			if took < 600*time.Millisecond || took > 4*time.Second {
				t.Errorf("gave up after %v, want about the 1 s wait", took)
			}
			if !strings.Contains(log.String(), "s for the chief, worker 0 ("+tc.addr+") (runtime.barrier_timeout_s)") {
				t.Errorf("log %q", log.String())
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	if err := WaitForPeers(ctx, rep(free()), time.Minute, io.Discard); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a cancelled wait took %v", d)
	}
	chief := free()
	if _, err := tfgraph.NewServer(tfgraph.Cluster{"worker": {chief}}, "worker", 0, tfgraph.ServerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WaitForPeers(context.Background(), rep(chief), 5*time.Second, io.Discard); err != nil {
		t.Errorf("a chief that is there: %v", err)
	}
}
