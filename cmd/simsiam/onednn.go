package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// restartError asks main to start the program again with extra environment
// variables. libtensorflow reads its oneDNN switch while it is being loaded,
// before main runs, so runtime.onednn can only take effect in a new process.
type restartError struct{ env []string }

func (e restartError) Error() string { return fmt.Sprintf("restart with %v", e.env) }

// oneDNNEnvValue decides whether runtime.onednn = want needs a restart with
// TF_ENABLE_ONEDNN_OPTS = value. enabled and known are TensorFlow's current
// state; cur and set describe the variable this process started with. The
// second result is a warning when the wish cannot be met (a libtensorflow
// built without oneDNN keeps it off whatever the variable says).
func oneDNNEnvValue(want, enabled, known bool, cur string, set bool) (value, warning string) {
	if !known || enabled == want {
		return "", ""
	}
	value = "0"
	if want {
		value = "1"
	}
	if set && cur == value {
		return "", fmt.Sprintf("runtime.onednn is %v but TensorFlow's oneDNN kernels are %s although %s=%s; "+
			"this libtensorflow was built without them", want, onOff(enabled), tfgraph.OneDNNEnv, cur)
	}
	return value, ""
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// applyOneDNN returns a restartError when this process runs TensorFlow's
// CPU kernels differently from runtime.onednn and a restart can fix it.
func applyOneDNN(want bool, stderr io.Writer) error {
	enabled, known := tfgraph.OneDNNEnabled()
	cur, set := os.LookupEnv(tfgraph.OneDNNEnv)
	value, warning := oneDNNEnvValue(want, enabled, known, cur, set)
	if warning != "" {
		fmt.Fprintln(stderr, "simsiam: warning:", warning)
	}
	if value == "" {
		return nil
	}
	return restartError{env: []string{tfgraph.OneDNNEnv + "=" + value}}
}

// loadForTF loads the config of a command that runs TensorFlow and makes
// sure the process honours runtime.onednn.
func (c *configFlags) loadForTF(checkPaths bool, stderr io.Writer) (*configs.Config, error) {
	cfg, err := c.load(checkPaths)
	if err != nil {
		return nil, err
	}
	if err := applyOneDNN(cfg.Runtime.OneDNN, stderr); err != nil {
		return nil, err
	}
	return cfg, nil
}

// restart replaces the process with a new run of the same program and
// arguments, with the NAME=value pairs of env set in its environment. It
// returns only on failure.
func restart(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restarting with %v: %w", env, err)
	}
	return fmt.Errorf("restarting with %v: %w", env, syscall.Exec(exe, os.Args, withEnv(os.Environ(), env)))
}

// withEnv returns base with the NAME=value pairs of set replacing any
// earlier value of NAME (getenv returns the first of duplicate entries).
func withEnv(base, set []string) []string {
	names := map[string]bool{}
	for _, kv := range set {
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		if name, _, _ := strings.Cut(kv, "="); !names[name] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
