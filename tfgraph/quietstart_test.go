package tfgraph

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestQuietStartSetsLogLevelBeforeTensorFlow runs this test binary again
// with TF_CPP_MIN_LOG_LEVEL removed from its environment and checks that the
// C environment had the default level from the start (what libtensorflow's
// initialisers read), and that a level the user set is kept.
func TestQuietStartSetsLogLevelBeforeTensorFlow(t *testing.T) {
	if os.Getenv("SIMSIAM_QUIET_CHILD") == "1" {
		// The child: report the level TensorFlow saw.
		os.Stdout.WriteString("level=" + startLogLevel() + "\n")
		return
	}
	for _, tc := range []struct {
		name, env, want string
	}{
		{"unset", "", "level=" + DefaultLogLevel},
		{"user's 0 kept", LogLevelEnv + "=0", "level=0"},
		{"user's 3 kept", LogLevelEnv + "=3", "level=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestQuietStartSetsLogLevelBeforeTensorFlow$")
			env := []string{"SIMSIAM_QUIET_CHILD=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, LogLevelEnv+"=") {
					env = append(env, kv)
				}
			}
			if tc.env != "" {
				env = append(env, tc.env)
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want+"\n") {
				t.Errorf("child printed %q, want a line %q", out, tc.want)
			}
			if tc.env == "" && strings.Contains(string(out), "oneDNN custom operations") {
				t.Errorf("TensorFlow's oneDNN notice reached the output although no level was set:\n%s", out)
			}
		})
	}
}
