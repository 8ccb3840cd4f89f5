package tfgraph

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTFConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		rank     int
		members  []string // job:index@addr in rank order
	}{
		{"workers", `{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}`, 1, []string{"worker:0@a:1", "worker:1@b:2"}},
		{"chief first", `{"cluster": {"chief": ["c:3"], "worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}, "environment": "cloud"}`, 1,
			[]string{"chief:0@c:3", "worker:0@a:1", "worker:1@b:2"}},
		{"chief is rank 0", `{"cluster": {"chief": ["c:3"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}`, 0, []string{"chief:0@c:3", "worker:0@a:1"}},
		{"evaluator is no member", `{"cluster": {"worker": ["a:1"], "evaluator": ["e:1"]}, "task": {"type": "evaluator", "index": 0}}`, -1, []string{"worker:0@a:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseTFConfig(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range c.Members() {
				got = append(got, m.Job+":"+string(rune('0'+m.Index))+"@"+m.Addr)
			}
			if !slices.Equal(got, tc.members) || c.Rank() != tc.rank {
				t.Errorf("members %v rank %d, want %v rank %d", got, c.Rank(), tc.members, tc.rank)
			}
		})
	}
	for _, bad := range []struct{ in, msg string }{
		{`{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}`, "not in the cluster"},
		{`{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}`, "no task.type"},
		{`{"clust": {}}`, "unknown field"},
		{`nope`, "TF_CONFIG"},
		{`{"cluster": {"worker": ["not-a-host-port"]}, "task": {"type": "worker", "index": 0}}`, `cluster worker 0: address "not-a-host-port" is not host:port`},
		{`{"cluster": {"worker": ["a:1", "b:http"]}, "task": {"type": "worker", "index": 0}}`, `cluster worker 1: address "b:http": port "http"`},
		{`{"cluster": {"worker": ["a:0"]}, "task": {"type": "worker", "index": 0}}`, `port "0" is not a number in 1..65535`},
		{`{"cluster": {"worker": ["a:70000"]}, "task": {"type": "worker", "index": 0}}`, `port "70000"`},
		{`{"cluster": {"worker": [":2222"]}, "task": {"type": "worker", "index": 0}}`, `has no valid host`},
		{`{"cluster": {"worker": ["a:1"], "ps": ["p q:1"]}, "task": {"type": "worker", "index": 0}}`, `cluster ps 0`},
	} {
		if _, err := ParseTFConfig(bad.in); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("TF_CONFIG %s: error %v, want one containing %q", bad.in, err, bad.msg)
		}
	}
	if d := (TaskAddr{Job: "worker", Index: 2}).Device(); d != "/job:worker/replica:0/task:2" {
		t.Errorf("device %q", d)
	}
}

// TestNewServerNamesATakenPort: a port another process listens on is
// refused before TensorFlow, naming the task and the address; a bad
// address never reaches TF_NewServer (which would abort the process).
func TestNewServerNamesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	_, err = NewServer(Cluster{"worker": {addr}}, "worker", 0, ServerOptions{})
	if err == nil || !strings.Contains(err.Error(), "worker:0 cannot listen on "+addr) {
		t.Errorf("taken port: error %v, want one naming worker:0 and %s", err, addr)
	}
	if _, err := NewServer(Cluster{"worker": {"not-a-host-port"}}, "worker", 0, ServerOptions{}); err == nil ||
		!strings.Contains(err.Error(), "not host:port") {
		t.Errorf("bad address: error %v", err)
	}
}

// TestNewSessionRefusesADeadTarget: a grpc:// target nothing listens on is
// an error naming it within the dial timeout, not a silent wait.
func TestNewSessionRefusesADeadTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // now nothing listens there
	g := NewGraph()
	g.Root().Const("c", float32(1))
	start := time.Now()
	_, err = NewSession(g, SessionOptions{Target: "grpc://" + addr})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "no TensorFlow server answers") {
		t.Fatalf("error %v, want one naming %s", err, addr)
	}
	if d := time.Since(start); d > TargetDialTimeout {
		t.Errorf("took %v", d)
	}
	if _, err := NewSession(g, SessionOptions{Target: "grpc://nohost"}); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("target without a port: %v", err)
	}
}
