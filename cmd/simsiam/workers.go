package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/simsiam-go/simsiam/cluster"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/train"
)

// launch runs train as n worker processes on this machine (cluster.Launch)
// with train's flags but --workers, forwarding the signal that stopped
// the launcher; a stopped job ends with the command that resumes it.
func launch(ctx context.Context, cfg *configs.Config, n int, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	signalled, err := cluster.Launch(ctx, cfg, cluster.LaunchOptions{
		Workers: n, Command: append([]string{exe, "train"}, args...), GPUs: cluster.VisibleGPUs(),
		Stdout: stdout, Stderr: stderr,
		Signal: func() os.Signal {
			var sc signalCause
			if errors.As(context.Cause(ctx), &sc) {
				return sc.sig
			}
			return syscall.SIGTERM
		},
	})
	if err != nil {
		return clusterUsage(err)
	}
	if signalled {
		fmt.Fprintf(stdout, "simsiam: resume the job with: %s --workers %d\n", resumeCommand(cfg.OutputDir), n)
	}
	return nil
}

// joinCluster makes this process the worker TF_CONFIG names (nil without
// TF_CONFIG); see cluster.Join.
func joinCluster(ctx context.Context, cfg *configs.Config, devices []string, stdout io.Writer) (*train.Replicas, error) {
	rep, err := cluster.Join(ctx, cfg, devices, stdout)
	return rep, clusterUsage(err)
}

// clusterUsage makes a job that cannot start as configured a usage error.
func clusterUsage(err error) error {
	var ce *cluster.ConfigError
	if errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}

// withoutWorkersFlag drops --workers N (or --workers=N) from train's flags.
func withoutWorkersFlag(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && (name == "workers") {
			i++ // its value
			continue
		}
		if strings.HasPrefix(a, "-") && strings.HasPrefix(name, "workers=") {
			continue
		}
		out = append(out, a)
	}
	return out
}
