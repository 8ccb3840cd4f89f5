package tfgraph

import (
	"slices"
	"strings"
	"testing"
)

func TestParseTFConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		rank     int
		members  []string // job:index@addr in rank order
	}{
		{"workers", `{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}`, 1, []string{"worker:0@a:1", "worker:1@b:2"}},
		{"chief first", `{"cluster": {"chief": ["c:0"], "worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}, "environment": "cloud"}`, 1,
			[]string{"chief:0@c:0", "worker:0@a:1", "worker:1@b:2"}},
		{"chief is rank 0", `{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}`, 0, []string{"chief:0@c:0", "worker:0@a:1"}},
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
	} {
		if _, err := ParseTFConfig(bad.in); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("TF_CONFIG %s: error %v, want one containing %q", bad.in, err, bad.msg)
		}
	}
	if d := (TaskAddr{Job: "worker", Index: 2}).Device(); d != "/job:worker/replica:0/task:2" {
		t.Errorf("device %q", d)
	}
}
