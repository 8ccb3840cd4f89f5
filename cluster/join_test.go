package cluster

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
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
	rep, err := Join(&cfg, []string{"/device:CPU:0"}, io.Discard)
	if rep != nil || err != nil {
		t.Errorf("Join without TF_CONFIG = %+v, %v; want nil, nil", rep, err)
	}
	t.Setenv("TF_CONFIG", "{not json")
	var ce *ConfigError
	if _, err := Join(&cfg, []string{"/device:CPU:0"}, io.Discard); !errors.As(err, &ce) {
		t.Errorf("Join with a malformed TF_CONFIG: %v, want a ConfigError", err)
	}
}
