package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
)

// syncBuffer is a bytes.Buffer the test may read while workers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// shell is a worker command running script with /bin/sh.
func shell(script string) []string { return []string{"/bin/sh", "-c", script, "worker"} }

func launchConfig() *configs.Config {
	cfg := configs.Default()
	cfg.Optim.BatchSize, cfg.Data.DropLast, cfg.Runtime.CollectiveTimeoutS = 8, true, 1
	return &cfg
}

// TestLaunchGivesEveryWorkerItsTask: each worker gets a TF_CONFIG naming
// every worker's loopback address and its own index, and its own GPU;
// worker 0's lines pass through, the others' are prefixed.
func TestLaunchGivesEveryWorkerItsTask(t *testing.T) {
	var out, errOut syncBuffer
	signalled, err := Launch(context.Background(), launchConfig(), LaunchOptions{
		Workers: 2, GPUs: []string{"3", "5", "6"}, Stdout: &out, Stderr: &errOut,
		Command: shell(`echo "tf $TF_CONFIG"; echo "gpu $CUDA_VISIBLE_DEVICES"; echo "err line" >&2`),
	})
	if err != nil || signalled {
		t.Fatalf("Launch = %v, %v; stdout:\n%s", signalled, err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	task := regexp.MustCompile(`^(worker 1: )?tf \{"cluster":\{"worker":\["(127\.0\.0\.1:\d+)","(127\.0\.0\.1:\d+)"\]\},"task":\{"index":(\d),"type":"worker"\}\}$`)
	var tasks, gpus []string
	var addrs [][]string
	for _, l := range lines {
		if m := task.FindStringSubmatch(l); m != nil {
			tasks = append(tasks, m[1]+m[4])
			addrs = append(addrs, m[2:4])
		}
		if strings.Contains(l, "gpu ") {
			gpus = append(gpus, l)
		}
	}
	slices.Sort(tasks)
	slices.Sort(gpus)
	if !slices.Equal(tasks, []string{"0", "worker 1: 1"}) || len(addrs) != 2 || !slices.Equal(addrs[0], addrs[1]) || addrs[0][0] == addrs[0][1] {
		t.Errorf("tasks %q with addresses %q; stdout:\n%s", tasks, addrs, out.String())
	}
	if !slices.Equal(gpus, []string{"gpu 3", "worker 1: gpu 5"}) {
		t.Errorf("GPUs %q, want worker 0 on 3 and worker 1 on 5", gpus)
	}
	if !strings.Contains(out.String(), "simsiam: started 2 workers on 127.0.0.1:") || !strings.Contains(out.String(), "(GPUs 3,5), global batch 8") {
		t.Errorf("no start line:\n%s", out.String())
	}
	if got := errOut.String(); got != "worker 0: err line\nworker 1: err line\n" && got != "worker 1: err line\nworker 0: err line\n" {
		t.Errorf("stderr %q, want both workers' lines prefixed", got)
	}
}

// TestLaunchNamesTheFirstFailure: the error names the worker that failed
// first, then the others with their delay.
func TestLaunchNamesTheFirstFailure(t *testing.T) {
	var out syncBuffer
	_, err := Launch(context.Background(), launchConfig(), LaunchOptions{
		Workers: 2, Stdout: &out, Stderr: &out,
		Command: shell(`case "$TF_CONFIG" in *'"index":1'*) exit 3;; esac; sleep 0.3; exit 4`),
	})
	if err == nil {
		t.Fatal("no error when both workers fail")
	}
	if !regexp.MustCompile(`^worker 1 \(127\.0\.0\.1:\d+\) failed first: exit status 3; worker 0 then: exit status 4 after \d+\.\d s$`).MatchString(err.Error()) {
		t.Errorf("error %q, want worker 1 first, then worker 0", err)
	}
}

// TestLaunchForwardsTheStopSignal: once ctx is done the signal Signal
// names reaches every worker, once; workers that then exit cleanly make a
// stopped job, no error.
func TestLaunchForwardsTheStopSignal(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stopped bool
	go func() {
		var err error
		stopped, err = Launch(ctx, launchConfig(), LaunchOptions{
			Workers: 2, Stdout: &out, Stderr: &out, Signal: func() os.Signal { return syscall.SIGHUP },
			Command: shell(`trap 'echo got HUP; exit 0' HUP; trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.05; done`),
		})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "ready") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the workers did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil || !stopped {
			t.Fatalf("Launch = %v, %v after the signal; want a stopped job; output:\n%s", stopped, err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Launch did not return after the signal:\n%s", out.String())
	}
	if s := out.String(); strings.Count(s, "got HUP") != 2 || strings.Contains(s, "got TERM") {
		t.Errorf("want SIGHUP forwarded to both workers, and nothing else:\n%s", s)
	}
}

// TestLaunchRefusesAJobItCannotRun: a global batch the workers cannot
// share, or more workers than GPUs, is a configuration error before any
// worker starts.
func TestLaunchRefusesAJobItCannotRun(t *testing.T) {
	odd := launchConfig()
	odd.Optim.BatchSize = 9
	ragged := launchConfig()
	ragged.Data.DropLast = false
	for _, tc := range []struct {
		name string
		cfg  *configs.Config
		gpus []string
		want string
	}{
		{"batch not a multiple", odd, nil, "optim.batch_size 9"},
		{"last batch kept", ragged, nil, "data.drop_last true"},
		{"more workers than GPUs", launchConfig(), []string{"0"}, "this machine has 1 GPUs (0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			_, err := Launch(context.Background(), tc.cfg, LaunchOptions{Workers: 2, GPUs: tc.gpus, Stdout: &out, Stderr: &out, Command: shell("echo started")})
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a ConfigError with %q", err, tc.want)
			}
			if out.String() != "" {
				t.Errorf("a worker ran: %q", out.String())
			}
		})
	}
}

func TestVisibleGPUs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    string
		set    bool
		driver int
		want   []string
	}{
		{"driver lists two", "", false, 2, []string{"0", "1"}},
		{"no GPU", "", false, 0, []string{}},
		{"CUDA_VISIBLE_DEVICES wins", " 2, 0 ", true, 4, []string{"2", "0"}},
		{"hidden", "-1", true, 4, nil},
		{"empty", "", true, 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := visibleGPUs(func(string) (string, bool) { return tc.env, tc.set }, tc.driver)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPrefixWriter: whole lines only, each prefixed unless raw, a partial
// line held until its newline.
func TestPrefixWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		raw    bool
		writes []string
		want   string
	}{
		{"lines", false, []string{"a\nb\n"}, "w: a\nw: b\n"},
		{"split line", false, []string{"ab", "c\nd"}, "w: abc\n"},
		{"raw", true, []string{"a\n", "b"}, "a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &prefixWriter{mu: &sync.Mutex{}, w: &out, prefix: "w: ", raw: tc.raw}
			for _, w := range tc.writes {
				if n, err := p.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if out.String() != tc.want {
				t.Errorf("wrote %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestFreeLoopbackPorts(t *testing.T) {
	addrs, err := freeLoopbackPorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 3 || addrs[0] == addrs[1] || addrs[1] == addrs[2] || addrs[0] == addrs[2] || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Errorf("ports %q, want three distinct loopback addresses", addrs)
	}
}

// TestLaunchEndsAJobThatIsOver: when the chief exits (0, before a worker
// got past the start barrier) or a worker fails while the chief waits, the
// workers left running get EndGrace, then SIGTERM, then SIGKILL after
// KillGrace: the launcher returns in about that time, naming the worker
// that failed first, and the stuck worker is gone (checked by its PID).
func TestLaunchEndsAJobThatIsOver(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		// worker 1 ignores SIGTERM: only SIGKILL ends it.
		{"chief exits 0 first", `case "$TF_CONFIG" in *'"index":0'*) exit 0;; esac; echo "pid $$"; trap '' TERM; sleep 60`, "worker 1 "},
		{"worker 1 fails while the chief waits", `case "$TF_CONFIG" in *'"index":1'*) exit 3;; esac; echo "pid $$"; sleep 60`, "worker 1 (127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			start := time.Now()
			_, err := Launch(context.Background(), launchConfig(), LaunchOptions{
				Workers: 2, Stdout: &out, Stderr: &errOut, Command: shell(tc.script),
				EndGrace: 300 * time.Millisecond, KillGrace: 300 * time.Millisecond,
			})
			took := time.Since(start)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want one starting %q\n%s", err, tc.want, errOut.String())
			}
			if took > 5*time.Second {
				t.Errorf("the launcher took %v to end a job that was over (graces 0.3 s + 0.3 s)", took)
			}
			if !strings.Contains(errOut.String(), "and worker 1 still runs 300ms later: SIGTERM, SIGKILL in 300ms") && !strings.Contains(errOut.String(), "and worker 0 still runs 300ms later") {
				t.Errorf("stderr does not say the job is over:\n%s", errOut.String())
			}
			m := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("the stuck worker printed no PID:\n%s", out.String())
			}
			var pid int
			fmt.Sscan(m[1], &pid)
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("worker PID %d still runs after the launcher returned", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		})
	}
}

// TestLaunchLetsTheChiefFinish: a worker other than the chief that exits 0
// (its last step done) does not end the chief, which may still export.
func TestLaunchLetsTheChiefFinish(t *testing.T) {
	var out syncBuffer
	start := time.Now()
	_, err := Launch(context.Background(), launchConfig(), LaunchOptions{
		Workers: 2, Stdout: &out, Stderr: &out, EndGrace: 100 * time.Millisecond, KillGrace: 100 * time.Millisecond,
		Command: shell(`case "$TF_CONFIG" in *'"index":0'*) sleep 1; echo exported; exit 0;; esac; exit 0`),
	})
	if err != nil || !strings.Contains(out.String(), "exported") {
		t.Errorf("Launch = %v; output:\n%s", err, out.String())
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("returned after %v, before the chief finished", d)
	}
}
