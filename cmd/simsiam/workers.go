package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// joinCluster makes this process the worker TF_CONFIG names: it starts the
// task's TF gRPC server with task 0 as the collective group leader and
// returns the worker's place in the job (nil without TF_CONFIG).
func joinCluster(cfg *configs.Config, devices []string, stdout io.Writer) (*train.Replicas, error) {
	tc, err := tfgraph.TFConfigFromEnv()
	if err != nil || tc == nil {
		if err != nil {
			return nil, usageError{err}
		}
		return nil, nil
	}
	if cfg.Runtime.Target != "" {
		return nil, usageError{fmt.Errorf("TF_CONFIG is set and runtime.target is %q: a worker trains through its own TF server; unset one of them", cfg.Runtime.Target)}
	}
	rank := tc.Rank()
	if rank < 0 {
		return nil, usageError{fmt.Errorf("TF_CONFIG: task type %q: a training task is a chief or a worker", tc.Task.Type)}
	}
	members := tc.Members()
	hint := "ring"
	if d, err := tfgraph.ParseDevice(devices[0]); err == nil && d.Type == "GPU" {
		hint = "nccl"
	}
	srv, err := tfgraph.NewServer(tc.Cluster, tc.Task.Type, tc.Task.Index, tfgraph.ServerOptions{
		CollectiveGroupLeader: members[0].Device(), CollectiveNCCL: hint == "nccl"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "simsiam: worker %d of %d (TF_CONFIG task %s:%d), TF server %s, all-reduce %s, global batch %d (%d per worker)\n",
		rank, len(members), tc.Task.Type, tc.Task.Index, srv.Target(), hint, cfg.Optim.BatchSize, cfg.Optim.BatchSize/max(len(members), 1))
	return &train.Replicas{Rank: rank, Tasks: members, Target: srv.Target(), Hint: hint,
		CollectiveTimeout: cfg.Runtime.CollectiveTimeoutS, BarrierTimeout: cfg.Runtime.BarrierTimeoutS}, nil
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

// visibleGPUs are the GPUs the workers are pinned to, one each: the
// entries of CUDA_VISIBLE_DEVICES when it is set, else every GPU the
// NVIDIA driver lists; none on a machine without one.
func visibleGPUs() []string {
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		var out []string
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && f != "-1" {
				out = append(out, f)
			}
		}
		return out
	}
	ents, _ := filepath.Glob("/proc/driver/nvidia/gpus/*")
	out := make([]string, len(ents))
	for i := range ents {
		out[i] = fmt.Sprint(i)
	}
	return out
}

// freeLoopbackPorts returns n distinct free ports on 127.0.0.1.
func freeLoopbackPorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// workerExit is how one worker process ended.
type workerExit struct {
	rank int
	err  error
	at   time.Time
}

// launch runs train as n worker processes on this machine, each with its
// TF_CONFIG (loopback ports) and, when there are GPUs, its own GPU
// (CUDA_VISIBLE_DEVICES). Worker 0's output passes through; the others'
// lines are prefixed "worker i: ". A stop signal is forwarded to every
// worker (they agree on the step to stop after and the chief
// checkpoints). When a worker fails the others are given the collective
// timeout plus 30 s to fail too, then killed; the error names the first
// worker that failed.
func launch(ctx context.Context, cfg *configs.Config, n int, args []string, stdout, stderr io.Writer) error {
	if n > 1 && (cfg.Optim.BatchSize%n != 0 || !cfg.Data.DropLast) {
		return usageError{fmt.Errorf("--workers %d: optim.batch_size %d (the global batch) must be a multiple of the worker count and data.drop_last true", n, cfg.Optim.BatchSize)}
	}
	gpus := visibleGPUs()
	if len(gpus) > 0 && n > len(gpus) {
		return usageError{fmt.Errorf("--workers %d: this machine has %d GPUs (%s); one worker per GPU", n, len(gpus), strings.Join(gpus, ","))}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	addrs, err := freeLoopbackPorts(n)
	if err != nil {
		return err
	}
	var mu sync.Mutex // one line at a time on the terminal
	cmds := make([]*exec.Cmd, n)
	exits := make(chan workerExit, n)
	for i := range n {
		tc, _ := json.Marshal(map[string]any{"cluster": map[string][]string{"worker": addrs}, "task": map[string]any{"type": "worker", "index": i}})
		c := exec.Command(exe, append([]string{"train"}, args...)...)
		c.Env = append(os.Environ(), "TF_CONFIG="+string(tc))
		if len(gpus) > 0 {
			c.Env = append(c.Env, "CUDA_VISIBLE_DEVICES="+gpus[i])
		}
		// Own process group: a Ctrl-C reaches the launcher only, which
		// forwards it once; the workers die with the launcher.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		prefix := fmt.Sprintf("worker %d: ", i)
		c.Stdout = &prefixWriter{mu: &mu, w: stdout, prefix: prefix, raw: i == 0}
		c.Stderr = &prefixWriter{mu: &mu, w: stderr, prefix: prefix}
		if err := c.Start(); err != nil {
			for _, started := range cmds[:i] {
				started.Process.Kill()
			}
			return fmt.Errorf("starting worker %d: %w", i, err)
		}
		cmds[i] = c
		go func() { err := c.Wait(); exits <- workerExit{rank: i, err: err, at: time.Now()} }()
	}
	gpuNote := "CPU"
	if len(gpus) > 0 {
		gpuNote = "GPUs " + strings.Join(gpus[:n], ",")
	}
	fmt.Fprintf(stdout, "simsiam: started %d workers on %s (%s), global batch %d\n", n, strings.Join(addrs, ", "), gpuNote, cfg.Optim.BatchSize)
	var failed []workerExit
	var deadline <-chan time.Time
	signalled := false
	for left := n; left > 0; {
		select {
		case e := <-exits:
			left--
			if e.err != nil {
				failed = append(failed, e)
				if deadline == nil && left > 0 {
					deadline = time.After(time.Duration(cfg.Runtime.CollectiveTimeoutS*float64(time.Second)) + 30*time.Second)
				}
			}
		case <-ctx.Done():
			if !signalled {
				signalled = true
				sig := syscall.SIGTERM
				var sc signalCause
				if errors.As(context.Cause(ctx), &sc) {
					if s, ok := sc.sig.(syscall.Signal); ok {
						sig = s
					}
				}
				for _, c := range cmds {
					c.Process.Signal(sig)
				}
			}
		case <-deadline:
			for _, c := range cmds {
				c.Process.Kill() // by PID; harmless for those that exited
			}
			deadline = nil
		}
	}
	if len(failed) == 0 {
		if signalled {
			fmt.Fprintf(stdout, "simsiam: resume the job with: %s --workers %d\n", resumeCommand(cfg.OutputDir), n)
		}
		return nil
	}
	first := failed[0]
	msg := fmt.Sprintf("worker %d (%s) failed first: %v", first.rank, addrs[first.rank], first.err)
	for _, e := range failed[1:] {
		msg += fmt.Sprintf("; worker %d then: %v after %.1f s", e.rank, e.err, e.at.Sub(first.at).Seconds())
	}
	return errors.New(msg)
}

// prefixWriter writes whole lines to w, each after prefix (unless raw),
// holding mu so the workers' lines do not interleave.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	raw    bool
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := p.buf[:i+1]
		p.mu.Lock()
		if !p.raw {
			io.WriteString(p.w, p.prefix)
		}
		p.w.Write(line)
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
