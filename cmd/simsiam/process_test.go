package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/runfolder"
)

// These tests run the real command: this test binary started again with
// SIMSIAM_TEST_MAIN=1 (see TestMain), signalled by its PID. Every wait is
// bounded; a child still running when its test ends is killed by PID.

// child is a running simsiam process whose stdout lines are watched.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout strings.Builder
	stderr bytes.Buffer
	lines  chan string // stdout, line by line
	exited chan error  // Wait's result, once
}

func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: exec.Command(exe, args...), lines: make(chan string, 1000), exited: make(chan error, 1)}
	c.cmd.Env = append(append(os.Environ(), "SIMSIAM_TEST_MAIN=1"), env...)
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Kill() // by PID; harmless once it has exited
		c.wait(30 * time.Second)
	})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.stdout.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		c.exited <- c.cmd.Wait()
	}()
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// output is what the child wrote so far, stdout then stderr without
// TensorFlow's log lines.
func (c *child) output() (stdout, stderr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keep []string
	for _, l := range strings.Split(c.stderr.String(), "\n") {
		if !tfNoise.MatchString(l) && !strings.HasPrefix(l, "E0000 ") {
			keep = append(keep, l)
		}
	}
	return c.stdout.String(), strings.Join(keep, "\n")
}

// waitLine waits up to d for a stdout line matching re.
func (c *child) waitLine(re *regexp.Regexp, d time.Duration) string {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l := <-c.lines:
			if re.MatchString(l) {
				return l
			}
		case err := <-c.exited:
			c.exited <- err
			out, errs := c.output()
			c.t.Fatalf("exited (%v) before printing a line matching %s; stdout:\n%s\nstderr:\n%s", err, re, out, errs)
		case <-deadline:
			out, errs := c.output()
			c.t.Fatalf("no line matching %s in %s; stdout:\n%s\nstderr:\n%s", re, d, out, errs)
		}
	}
}

// wait waits up to d for the exit and returns its status (-1 on timeout).
func (c *child) wait(d time.Duration) int {
	select {
	case err := <-c.exited:
		c.exited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			return -2
		}
		return 0
	case <-time.After(d):
		return -1
	}
}

func (c *child) signal(s syscall.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(s); err != nil {
		c.t.Fatalf("signal %v to PID %d: %v", s, c.cmd.Process.Pid, err)
	}
}

func needFashionMNIST(t *testing.T) {
	t.Helper()
	if os.Getenv("SIMSIAM_NO_REAL_DATA") == "1" {
		t.Skip("SIMSIAM_NO_REAL_DATA=1: skipping the run on the installed Fashion-MNIST")
	}
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Fatalf("Fashion-MNIST is not installed (set SIMSIAM_NO_REAL_DATA=1 to skip): %v", err)
	}
}

// tinyTrain is a train command line of a tiny, long run on Fashion-MNIST
// (8 steps an epoch, one progress line a step).
func tinyTrain(out string, extra ...string) []string {
	args := []string{"train", "--set", "model.width=4", "--set", "model.proj_dim=32", "--set", "model.proj_hidden=32",
		"--set", "model.pred_hidden=8", "--set", "data.limit=512", "--set", "optim.batch_size=64",
		"--set", "optim.epochs=50", "--set", "train.log_every=1", "--set", "output_dir=" + out}
	return append(args, extra...)
}

var (
	progressLine = regexp.MustCompile(`^step \d+/\d+ `)
	stoppedLine  = regexp.MustCompile(`^simsiam: stopped at step (\d+) \(checkpoint (\S+)\); resume with: (simsiam train --config (\S+) --resume)$`)
)

// TestTrainStopsCleanlyOnSignal: SIGTERM or SIGHUP during training lets the
// step finish, checkpoints it, exits 0 and prints the resume command, which
// continues from that step.
func TestTrainStopsCleanlyOnSignal(t *testing.T) {
	needFashionMNIST(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(signalName(sig), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			c := startChild(t, nil, tinyTrain(out)...)
			c.waitLine(progressLine, 180*time.Second)
			t0 := time.Now()
			c.signal(sig)
			code := c.wait(60 * time.Second)
			took := time.Since(t0)
			stdout, stderr := c.output()
			if code != 0 {
				t.Fatalf("exit status %d after %v, want 0; stdout:\n%s\nstderr:\n%s", code, sig, stdout, stderr)
			}
			t.Logf("%s to exit: %v", signalName(sig), took.Round(time.Millisecond))
			if !strings.Contains(stderr, "simsiam: "+signalName(sig)+": stopping cleanly") {
				t.Errorf("stderr does not acknowledge the signal:\n%s", stderr)
			}
			var m []string
			for _, l := range strings.Split(stdout, "\n") {
				if m = stoppedLine.FindStringSubmatch(l); m != nil {
					break
				}
			}
			if m == nil {
				t.Fatalf("no resume command on stdout:\n%s", stdout)
			}
			step, _ := strconv.Atoi(m[1])
			ckpt, config := m[2], m[4]
			if want := filepath.Join(runfolder.Dir(out).Checkpoints(), fmt.Sprintf("ckpt-%d", step)); ckpt != want || step < 1 {
				t.Errorf("checkpoint %s of step %d, want %s", ckpt, step, want)
			}
			if config != runfolder.Dir(out).Config() {
				t.Errorf("resume command names config %s, want %s", config, runfolder.Dir(out).Config())
			}
			for _, f := range []string{ckpt + ".index", ckpt + ".data-00000-of-00001", config} {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("not on disk after the signal: %v", err)
				}
			}
			// The printed command (without its program name) continues from
			// that step; it is stopped the same way two steps further (a
			// lower train.max_steps would cut the run's schedule, which a
			// resume refuses).
			r := startChild(t, nil, strings.Fields(m[3])[1:]...)
			r.waitLine(regexp.MustCompile(fmt.Sprintf(`^step %d/`, step+2)), 180*time.Second)
			r.signal(sig)
			if code := r.wait(60 * time.Second); code != 0 {
				o, e := r.output()
				t.Fatalf("resume exited %d; stdout:\n%s\nstderr:\n%s", code, o, e)
			}
			o, _ := r.output()
			if want := fmt.Sprintf("resuming from %s at step %d\n", ckpt, step); !strings.Contains(o, want) {
				t.Errorf("resumed run's stdout lacks %q:\n%s", want, o)
			}
			if !regexp.MustCompile(`simsiam: stopped at step (\d+)`).MatchString(o) || strings.Contains(o, fmt.Sprintf("stopped at step %d ", step)) {
				t.Errorf("the resumed run did not stop past step %d:\n%s", step, o)
			}
		})
	}
}

// TestTrainSecondSignalExitsAtOnce: a second signal does not wait for the
// checkpoint: status 130.
func TestTrainSecondSignalExitsAtOnce(t *testing.T) {
	needFashionMNIST(t)
	c := startChild(t, nil, tinyTrain(filepath.Join(t.TempDir(), "run"))...)
	c.waitLine(progressLine, 180*time.Second)
	c.signal(syscall.SIGTERM) // two different signals: pending ones do not merge
	c.signal(syscall.SIGINT)
	code := c.wait(30 * time.Second)
	stdout, stderr := c.output()
	if code != exitInterrupted {
		t.Fatalf("exit status %d after two signals, want %d; stdout:\n%s\nstderr:\n%s", code, exitInterrupted, stdout, stderr)
	}
	if !strings.Contains(stderr, "exiting at once") {
		t.Errorf("stderr does not say it exits at once:\n%s", stderr)
	}
}

// TestTrainStopsDuringTheKNNMonitor: a signal while the kNN monitor
// extracts the features of the full Fashion-MNIST (60000 + 10000 images)
// stops it between batches: exit 0 soon after, with the epoch's checkpoint.
func TestTrainStopsDuringTheKNNMonitor(t *testing.T) {
	needFashionMNIST(t)
	out := filepath.Join(t.TempDir(), "run")
	c := startChild(t, nil, tinyTrain(out, "--set", "train.knn_every=1", "--set", "eval.limit_train=0", "--set", "eval.limit_test=0")...)
	c.waitLine(regexp.MustCompile(`^step 8/`), 180*time.Second) // the end of epoch 1: the monitor starts
	time.Sleep(time.Second)
	t0 := time.Now()
	c.signal(syscall.SIGTERM)
	code := c.wait(60 * time.Second)
	took := time.Since(t0)
	stdout, stderr := c.output()
	if code != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("SIGTERM during the kNN monitor to exit: %v", took.Round(time.Millisecond))
	if strings.Contains(stdout, "kNN top-1") {
		t.Fatalf("the monitor finished before the signal: the test proves nothing; stdout:\n%s", stdout)
	}
	if !strings.Contains(stdout, "simsiam: stopped at step 8 (checkpoint "+filepath.Join(runfolder.Dir(out).Checkpoints(), "ckpt-8")+")") {
		t.Errorf("stdout does not report the stop at step 8:\n%s", stdout)
	}
	if took > 10*time.Second {
		t.Errorf("%v from SIGTERM to exit during the kNN monitor", took)
	}
}

// TestTrainStopsCleanlyWhenItsPipeCloses: Ctrl-C in a terminal signals the
// whole pipeline (simsiam train | tee log), so stdout's reader is gone when
// the step finishes; the run still checkpoints and exits 0.
func TestTrainStopsCleanlyWhenItsPipeCloses(t *testing.T) {
	needFashionMNIST(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(exe, tinyTrain(out)...)
	cmd.Env = append(os.Environ(), "SIMSIAM_TEST_MAIN=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedWriter
	var buf bytes.Buffer
	stderr.mu, stderr.w = new(sync.Mutex), &buf
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
		}
	})
	progress := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if progressLine.MatchString(sc.Text()) {
				progress <- true
				return
			}
		}
	}()
	select {
	case <-progress:
	case <-time.After(180 * time.Second):
		t.Fatal("no progress line in 180 s")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r.Close() // tee got the same Ctrl-C
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("no exit 60 s after SIGINT")
	}
	stderr.mu.Lock()
	defer stderr.mu.Unlock()
	if err != nil {
		t.Fatalf("exit: %v (want 0); stderr:\n%s", err, buf.String())
	}
	if idx, _ := filepath.Glob(filepath.Join(runfolder.Dir(out).Checkpoints(), "ckpt-*.index")); len(idx) == 0 {
		t.Errorf("no checkpoint after SIGINT with stdout's pipe closed")
	}
}

// TestServerExitsOnSignal: simsiam worker stops on SIGTERM and SIGINT
// (tfgraph's Join never returns) with a message.
func TestServerExitsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(signalName(sig), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			c := startChild(t, []string{fmt.Sprintf(`TF_CONFIG={"cluster":{"worker":["127.0.0.1:%d"]},"task":{"type":"worker","index":0}}`, port)}, "worker")
			c.waitLine(regexp.MustCompile(`serving at`), 60*time.Second)
			t0 := time.Now()
			c.signal(sig)
			code := c.wait(10 * time.Second)
			stdout, stderr := c.output()
			if code != 0 {
				t.Fatalf("exit status %d within 10 s of %v, want 0; stdout:\n%s\nstderr:\n%s", code, sig, stdout, stderr)
			}
			t.Logf("%s to exit: %v", signalName(sig), time.Since(t0).Round(time.Millisecond))
			if want := "stopped (got " + signalName(sig) + ")"; !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		})
	}
}

// TestCLIFailuresAreClear: small misuses give a clear error and status, and
// write nothing.
func TestCLIFailuresAreClear(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// embed and predict look for images before loading the model, so a
	// missing model directory does not matter here.
	model := filepath.Join(dir, "no-model")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		msg    string
		absent []string
	}{
		{"preview negative n", []string{"preview", "--n", "-1", "--out", filepath.Join(dir, "p.png")}, 2,
			"--n is the number of rows, at least 1; got -1", []string{"p.png"}},
		{"preview zero n", []string{"preview", "--n", "0", "--out", filepath.Join(dir, "p0.png")}, 2,
			"at least 1; got 0", []string{"p0.png"}},
		{"embed empty folder", []string{"embed", "--model", model, "--images", empty, "--out", filepath.Join(dir, "e.npy")}, 1,
			"no images in " + empty, []string{"e.npy", "e.npy.txt"}},
		{"predict empty folder", []string{"predict", "--model", model, "--images", empty}, 1,
			"no images in " + empty, nil},
		{"negative seed", []string{"config", "validate", "--set", "seed=-1"}, 2, "seed: must be >= 0, got -1", nil},
		{"train negative seed", []string{"train", "--set", "seed=-1", "--set", "output_dir=" + filepath.Join(dir, "run")}, 2,
			"seed: must be >= 0, got -1", []string{"run"}},
		{"train negative workers", []string{"train", "--workers", "-1", "--set", "output_dir=" + filepath.Join(dir, "w")}, 2,
			"--workers -1: give the number of worker processes", []string{"w"}},
		{"train workers not dividing the batch", []string{"train", "--workers", "3", "--set", "optim.batch_size=64", "--set", "output_dir=" + filepath.Join(dir, "w3")}, 2,
			"--workers 3: optim.batch_size 64 (the global batch) must be a multiple of the worker count", []string{"w3"}},
		{"train several devices", []string{"train", "--set", "runtime.devices=[/device:CPU:0,/device:CPU:1]", "--set", "output_dir=" + filepath.Join(dir, "d")}, 2,
			"runtime.devices: lists 2 devices, but a process trains on one: for data parallelism run one worker per device (simsiam train --workers 2", []string{"d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, exe, tc.args...) // killed by PID at the deadline
			cmd.Env = append(os.Environ(), "SIMSIAM_TEST_MAIN=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tc.code, tc.msg)
			}
			if strings.Contains(stderr.String(), "panic") {
				t.Errorf("panicked:\n%s", stderr.String())
			}
			for _, f := range tc.absent {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was written", f)
				}
			}
		})
	}
}
