package cluster

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
)

// Once the job is over — a worker failed, or the chief (which writes the
// run's files) exited — the workers still running are given EndGrace to
// end by themselves (a peer's death fails their collectives in a fraction
// of a second, with a message naming it), then SIGTERM, then after
// KillGrace SIGKILL. A worker other than the chief that exits 0 ends
// nothing: the chief may still be exporting the SavedModel.
const (
	DefaultEndGrace  = 10 * time.Second
	DefaultKillGrace = 10 * time.Second
)

// LaunchOptions describe a job Launch runs on this machine.
type LaunchOptions struct {
	// Workers is the number of worker processes.
	Workers int
	// Command is what every worker runs, program first (simsiam train
	// with the launcher's flags but --workers); each gets its TF_CONFIG in
	// the environment.
	Command []string
	// GPUs are the GPUs to pin the workers to, one each, in order
	// (VisibleGPUs); none trains on the CPU.
	GPUs []string
	// Stdout and Stderr receive the workers' output: worker 0's stdout
	// as is, every other line after "worker i: ".
	Stdout, Stderr io.Writer
	// Signal, when set, is the signal to forward to every worker once ctx
	// is done (the one that stopped the launcher); SIGTERM otherwise.
	Signal func() os.Signal
	// EndGrace and KillGrace (0: DefaultEndGrace, DefaultKillGrace) bound
	// the wait for the other workers once the job is over.
	EndGrace, KillGrace time.Duration
}

// workerExit is how one worker process ended.
type workerExit struct {
	rank int
	err  error
	at   time.Time
}

// Launch runs cfg's training as o.Workers worker processes on this
// machine, each with its TF_CONFIG (loopback ports) and, when there are
// GPUs, its own GPU (CUDA_VISIBLE_DEVICES). Once ctx is done the stop
// signal is forwarded to every worker, once (they agree on the step to stop
// after and the chief checkpoints); signalled then reports it. When a worker
// fails, or the chief exits while others run, the rest are ended within
// EndGrace + KillGrace (see DefaultEndGrace); the error names the first
// worker that failed. A job that cannot run as configured is a
// *ConfigError.
func Launch(ctx context.Context, cfg *configs.Config, o LaunchOptions) (bool, error) {
	n := o.Workers
	if n > 1 && (cfg.Optim.BatchSize%n != 0 || !cfg.Data.DropLast) {
		return false, configErrorf("--workers %d: optim.batch_size %d (the global batch) must be a multiple of the worker count and data.drop_last true", n, cfg.Optim.BatchSize)
	}
	gpus := o.GPUs
	if len(gpus) > 0 && n > len(gpus) {
		return false, configErrorf("--workers %d: this machine has %d GPUs (%s); one worker per GPU", n, len(gpus), strings.Join(gpus, ","))
	}
	if len(o.Command) == 0 {
		return false, errors.New("launch: no worker command")
	}
	addrs, err := freeLoopbackPorts(n)
	if err != nil {
		return false, err
	}
	var mu sync.Mutex // one line at a time on the terminal
	cmds := make([]*exec.Cmd, n)
	exits := make(chan workerExit, n)
	for i := range n {
		tc, err := json.Marshal(map[string]any{"cluster": map[string][]string{"worker": addrs}, "task": map[string]any{"type": "worker", "index": i}})
		if err != nil {
			return false, fmt.Errorf("worker %d's TF_CONFIG: %w", i, err)
		}
		c := exec.Command(o.Command[0], o.Command[1:]...)
		c.Env = append(os.Environ(), "TF_CONFIG="+string(tc))
		if len(gpus) > 0 {
			c.Env = append(c.Env, "CUDA_VISIBLE_DEVICES="+gpus[i])
		}
		// Own process group: a Ctrl-C reaches the launcher only, which
		// forwards it once; the workers die with the launcher.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		// A killed worker's children may hold its output open: Wait
		// returns this long after the worker itself has exited.
		c.WaitDelay = 2 * time.Second
		prefix := fmt.Sprintf("worker %d: ", i)
		c.Stdout = &prefixWriter{mu: &mu, w: o.Stdout, prefix: prefix, raw: i == 0}
		c.Stderr = &prefixWriter{mu: &mu, w: o.Stderr, prefix: prefix}
		if err := c.Start(); err != nil {
			for _, started := range cmds[:i] {
				started.Process.Kill()
			}
			return false, fmt.Errorf("starting worker %d: %w", i, err)
		}
		cmds[i] = c
		go func() { err := c.Wait(); exits <- workerExit{rank: i, err: err, at: time.Now()} }()
	}
	gpuNote := "CPU"
	if len(gpus) > 0 {
		gpuNote = "GPUs " + strings.Join(gpus[:n], ",")
	}
	fmt.Fprintf(o.Stdout, "simsiam: started %d workers on %s (%s), global batch %d\n", n, strings.Join(addrs, ", "), gpuNote, cfg.Optim.BatchSize)
	failed, signalled := supervise(ctx, cmds, exits, o)
	if len(failed) == 0 {
		return signalled, nil
	}
	first := failed[0]
	msg := fmt.Sprintf("worker %d (%s) failed first: %v", first.rank, addrs[first.rank], first.err)
	for _, e := range failed[1:] {
		msg += fmt.Sprintf("; worker %d then: %v after %.1f s", e.rank, e.err, e.at.Sub(first.at).Seconds())
	}
	return signalled, errors.New(msg)
}

// supervise waits for every worker of cmds to exit (their exits arrive on
// exits): it forwards the stop signal once ctx is done, and once the job
// is over (a worker failed, or the chief exited) ends the workers still
// running (EndGrace, SIGTERM to the process group, KillGrace, SIGKILL). It
// returns the failures in the order they came and whether it forwarded a
// signal.
func supervise(ctx context.Context, cmds []*exec.Cmd, exits <-chan workerExit, o LaunchOptions) (failed []workerExit, signalled bool) {
	endGrace, killGrace := o.EndGrace, o.KillGrace
	if endGrace <= 0 {
		endGrace = DefaultEndGrace
	}
	if killGrace <= 0 {
		killGrace = DefaultKillGrace
	}
	running := make([]bool, len(cmds))
	for i := range running {
		running[i] = true
	}
	signalAll := func(sig syscall.Signal) {
		for i, c := range cmds {
			if running[i] {
				syscall.Kill(-c.Process.Pid, sig) // its process group (Setpgid), by PID
			}
		}
	}
	var deadline <-chan time.Time
	stop := ctx.Done()
	terminated := false
	over := "" // why the job is over, once it is
	for left := len(cmds); left > 0; {
		select {
		case e := <-exits:
			left--
			running[e.rank] = false
			if e.err != nil {
				failed = append(failed, e)
			}
			if deadline == nil && left > 0 && (e.err != nil || e.rank == 0) {
				over = fmt.Sprintf("worker %d failed", e.rank)
				if e.err == nil {
					over = "the chief (worker 0) finished"
				}
				deadline = time.After(endGrace)
			}
		case <-stop:
			stop = nil // forwarded once; a nil channel never fires again
			signalled = true
			sig := syscall.SIGTERM
			if o.Signal != nil {
				if s, ok := o.Signal().(syscall.Signal); ok {
					sig = s
				}
			}
			for _, c := range cmds {
				c.Process.Signal(sig)
			}
		case <-deadline:
			if terminated {
				signalAll(syscall.SIGKILL)
				deadline = nil
				continue
			}
			terminated = true
			for i := range cmds {
				if running[i] {
					fmt.Fprintf(o.Stderr, "simsiam: %s, and worker %d still runs %v later: SIGTERM, SIGKILL in %v\n", over, i, endGrace, killGrace)
				}
			}
			signalAll(syscall.SIGTERM)
			deadline = time.After(killGrace)
		}
	}
	return failed, signalled
}

// VisibleGPUs are the GPUs the workers are pinned to, one each: the
// entries of CUDA_VISIBLE_DEVICES when it is set, else every GPU the
// NVIDIA driver lists; none on a machine without one.
func VisibleGPUs() []string {
	ents, _ := filepath.Glob("/proc/driver/nvidia/gpus/*")
	return visibleGPUs(os.LookupEnv, len(ents))
}

// visibleGPUs is VisibleGPUs with the environment lookup and the driver's
// GPU count given.
func visibleGPUs(lookup func(string) (string, bool), driverGPUs int) []string {
	if v, ok := lookup("CUDA_VISIBLE_DEVICES"); ok {
		var out []string
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && f != "-1" {
				out = append(out, f)
			}
		}
		return out
	}
	out := make([]string, driverGPUs)
	for i := range out {
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
