package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/runfolder"
)

// tfConfigs returns the TF_CONFIG of each of n workers on free loopback ports.
func tfConfigs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, fmt.Sprintf("%q", l.Addr().String()))
		l.Close()
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`TF_CONFIG={"cluster":{"worker":[%s]},"task":{"type":"worker","index":%d}}`, strings.Join(addrs, ","), i)
	}
	return out
}

// tinyWorkers is tinyTrain for a 2-worker job with a short all-reduce timeout.
func tinyWorkers(out string, extra ...string) []string {
	return tinyTrain(out, append([]string{"--set", "runtime.collective_timeout_s=5", "--set", "train.checkpoint_every=2"}, extra...)...)
}

// TestKilledWorkerStopsTheJob: kill -9 of worker 1 mid-run makes worker 0
// exit non-zero within the all-reduce timeout plus 30 s, with one line
// naming worker 1. A resume of the job (worker 1 started 8 s after worker
// 0: a late worker is waited for) continues from the chief's newest
// checkpoint, on both workers.
func TestKilledWorkerStopsTheJob(t *testing.T) {
	needFashionMNIST(t)
	out := filepath.Join(t.TempDir(), "run")
	env := tfConfigs(t, 2)
	// The same schedule for the run and its resume (a resume may extend it,
	// never cut it): 12 steps, the kill after step 3.
	const last = 12
	steps := []string{"--set", fmt.Sprintf("train.max_steps=%d", last)}
	w0 := startChild(t, []string{env[0]}, tinyWorkers(out, steps...)...)
	w1 := startChild(t, []string{env[1]}, tinyWorkers(out, steps...)...)
	w0.waitLine(regexp.MustCompile(`^step 3/`), 240*time.Second)
	t0 := time.Now()
	w1.signal(syscall.SIGKILL)
	code := w0.wait(35 * time.Second)
	took := time.Since(t0)
	stdout, stderr := w0.output()
	if code <= 0 {
		t.Fatalf("worker 0 exit status %d %v after worker 1 was killed, want non-zero within 35 s; stdout:\n%s\nstderr:\n%s", code, took, stdout, stderr)
	}
	var msg string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "simsiam: worker 0: step ") {
			msg = l
		}
	}
	if !strings.Contains(msg, "all-reduce with the other workers failed") || !(strings.Contains(msg, "failed: worker 1 (127.0.0.1:") || strings.Contains(msg, "runtime.collective_timeout_s=5")) {
		t.Errorf("worker 0's error does not name worker 1 or the timeout: %q; stderr:\n%s", msg, stderr)
	}
	t.Logf("worker 0 exited %d %v after the kill: %s", code, took.Round(time.Millisecond), msg)
	ckpts, _ := filepath.Glob(filepath.Join(runfolder.Dir(out).Checkpoints(), "ckpt-*.index"))
	if len(ckpts) == 0 {
		t.Fatalf("no checkpoint of the chief before the kill")
	}
	var newest int
	for _, c := range ckpts {
		var n int
		fmt.Sscanf(filepath.Base(c), "ckpt-%d.index", &n)
		newest = max(newest, n)
	}

	env = tfConfigs(t, 2)
	stop := append(steps, "--resume")
	r0 := startChild(t, []string{env[0]}, tinyWorkers(out, stop...)...)
	time.Sleep(8 * time.Second)
	r1 := startChild(t, []string{env[1]}, tinyWorkers(out, stop...)...)
	for i, c := range []*child{r0, r1} {
		if code := c.wait(240 * time.Second); code != 0 {
			o, e := c.output()
			t.Fatalf("resumed worker %d exited %d; stdout:\n%s\nstderr:\n%s", i, code, o, e)
		}
	}
	o0, _ := r0.output()
	o1, _ := r1.output()
	for _, want := range []string{fmt.Sprintf("resuming from %s at step %d\n", filepath.Join(runfolder.Dir(out).Checkpoints(), fmt.Sprintf("ckpt-%d", newest)), newest),
		fmt.Sprintf("starting at step %d with the chief's weights", newest), fmt.Sprintf("done: step %d ", last)} {
		if !strings.Contains(o0, want) {
			t.Errorf("resumed worker 0's stdout lacks %q:\n%s", want, o0)
		}
	}
	for _, want := range []string{fmt.Sprintf("starting at step %d with the chief's weights", newest), fmt.Sprintf("done: step %d ", last)} {
		if !strings.Contains(o1, want) {
			t.Errorf("resumed worker 1's stdout lacks %q:\n%s", want, o1)
		}
	}
}

// TestLauncherStopsEveryWorkerOnSignal: simsiam train --workers 2 forwards
// SIGTERM; both workers stop after the same step, the chief checkpoints
// it, and the launcher exits 0.
func TestLauncherStopsEveryWorkerOnSignal(t *testing.T) {
	needFashionMNIST(t)
	out := filepath.Join(t.TempDir(), "run")
	c := startChild(t, nil, append(tinyWorkers(out), "--workers", "2")...)
	c.waitLine(regexp.MustCompile(`^step 2/`), 240*time.Second)
	c.signal(syscall.SIGTERM)
	code := c.wait(60 * time.Second)
	stdout, stderr := c.output()
	if code != 0 {
		t.Fatalf("launcher exit %d after SIGTERM, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	chief := stoppedLine.FindStringSubmatch(lineWith(stdout, "simsiam: stopped at step", true))
	other := regexp.MustCompile(`^worker 1: simsiam: stopped at step (\d+) `).FindStringSubmatch(lineWith(stdout, "worker 1: simsiam: stopped", true))
	if chief == nil || other == nil || chief[1] != other[1] {
		t.Fatalf("the workers did not stop at the same step (chief %v, worker 1 %v); stdout:\n%s", chief, other, stdout)
	}
	if !fileExists(chief[2] + ".index") {
		t.Errorf("no checkpoint %s", chief[2])
	}
	if want := "simsiam: resume the job with: simsiam train --config " + runfolder.Dir(out).Config() + " --resume --workers 2"; !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
	if !strings.Contains(stdout, "worker 1: simsiam: worker 1 of 2") {
		t.Errorf("worker 1's lines are not prefixed:\n%s", stdout)
	}
}

// lineWith is the first line of s starting with (or containing) sub.
func lineWith(s, sub string, prefix bool) string {
	for _, l := range strings.Split(s, "\n") {
		if (prefix && strings.HasPrefix(l, sub)) || (!prefix && strings.Contains(l, sub)) {
			return l
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestLoneWorkerGivesUpAtTheBarrier: worker 0 of 2 with no worker 1 waits
// up to runtime.barrier_timeout_s for worker 1's TF server before its
// first collective, then exits 1 naming worker 1 and its address.
func TestLoneWorkerGivesUpAtTheBarrier(t *testing.T) {
	needFashionMNIST(t)
	env := tfConfigs(t, 2)
	c := startChild(t, []string{env[0]}, tinyWorkers(filepath.Join(t.TempDir(), "run"), "--set", "runtime.barrier_timeout_s=5")...)
	// The worker waits for its peer's TF server first (cluster.WaitForPeers),
	// bounded by the same timeout as the start barrier.
	c.waitLine(regexp.MustCompile(`waiting up to [0-9.]+ s for worker 1 \(127\.0\.0\.1:\d+\) \(runtime\.barrier_timeout_s\)`), 120*time.Second)
	t0 := time.Now()
	code := c.wait(35 * time.Second)
	took := time.Since(t0)
	_, stderr := c.output()
	if code != 1 {
		t.Fatalf("exit %d %v after the barrier started, want 1 within 35 s; stderr:\n%s", code, took, stderr)
	}
	msg := lineWith(stderr, "simsiam: worker 0 of 2: worker 1 (127.0.0.1:", true)
	if !strings.Contains(msg, "is not there: no TensorFlow server answered") {
		t.Errorf("no line naming worker 1; stderr:\n%s", stderr)
	}
	if took < 3*time.Second {
		t.Errorf("gave up after %v, before the 5 s barrier timeout", took)
	}
	t.Logf("gave up %v after the barrier started: %s", took.Round(time.Millisecond), msg)
}

// TestLauncherNamesTheFailedWorker: kill -9 of worker 1 of simsiam train
// --workers 2 makes the launcher exit 1 within the all-reduce timeout
// plus 30 s, naming worker 1 as the one that failed first.
func TestLauncherNamesTheFailedWorker(t *testing.T) {
	needFashionMNIST(t)
	c := startChild(t, nil, append(tinyWorkers(filepath.Join(t.TempDir(), "run")), "--workers", "2")...)
	c.waitLine(regexp.MustCompile(`^step 2/`), 240*time.Second)
	// Worker 1 is the launcher's child whose TF_CONFIG has task index 1.
	pid := 0
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", c.cmd.Process.Pid))
	for _, f := range tasks {
		raw, _ := os.ReadFile(f)
		for _, kid := range strings.Fields(string(raw)) {
			env, _ := os.ReadFile("/proc/" + kid + "/environ")
			if strings.Contains(string(env), `"task":{"index":1,"type":"worker"}`) {
				fmt.Sscan(kid, &pid)
			}
		}
	}
	if pid == 0 {
		t.Fatalf("no child of the launcher (PID %d) has worker 1's TF_CONFIG", c.cmd.Process.Pid)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	t.Logf("killed worker 1, PID %d", pid)
	code := c.wait(35 * time.Second)
	if code == -1 {
		out, _ := exec.Command("ps", "-o", "pid,ppid,stat,etime,args", "--ppid", fmt.Sprint(c.cmd.Process.Pid)).CombinedOutput()
		t.Logf("launcher's children still running:\n%s", out)
	}
	stdout, stderr := c.output()
	if code != 1 {
		t.Fatalf("launcher exit %d, want 1 within 35 s of the kill; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if msg := lineWith(stderr, "simsiam: worker 1 (127.0.0.1:", true); !strings.Contains(msg, "failed first: signal: killed") {
		t.Errorf("the launcher does not name worker 1 as failed first; stderr:\n%s", stderr)
	}
}

// TestWithoutWorkersFlag: the launcher's workers get train's flags but
// --workers, in every spelling, and nothing after "--" is touched.
func TestWithoutWorkersFlag(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--workers", "2", "--resume"}, []string{"--resume"}},
		{[]string{"--preset", "x", "-workers=4"}, []string{"--preset", "x"}},
		{[]string{"--set", "a=1", "--workers=2", "--set", "b=2"}, []string{"--set", "a=1", "--set", "b=2"}},
		{[]string{"--resume", "--", "--workers", "2"}, []string{"--resume", "--", "--workers", "2"}},
		{[]string{"--set", "workers=3"}, []string{"--set", "workers=3"}},
	} {
		if got := withoutWorkersFlag(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("withoutWorkersFlag(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
