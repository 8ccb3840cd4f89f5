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
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test start this test binary as the simsiam command: with
// SIMSIAM_TEST_MAIN=1 it runs main() on its arguments instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("SIMSIAM_TEST_MAIN") == "1" {
		os.Args = append([]string{"simsiam"}, os.Args[1:]...)
		if os.Getenv("SIMSIAM_TEST_PANIC") == "1" {
			// A command with a bug: an index out of range.
			mainWith(func(_ context.Context, args []string, _, _ io.Writer) error {
				_ = args[len(args)+1]
				return nil
			})
		} else {
			main()
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPanicExitsWithCrashStatus starts this binary as a command that
// panics: the panic's message and the stack of the failing function reach
// stderr, and the status is exitCrash, not a usage error's 2.
func TestPanicExitsWithCrashStatus(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "train")
	cmd.Env = append(os.Environ(), "SIMSIAM_TEST_MAIN=1", "SIMSIAM_TEST_PANIC=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCrash {
		t.Fatalf("exit: %v, want status %d; stderr:\n%s", err, exitCrash, stderr.String())
	}
	for _, want := range []string{"simsiam: crashed", "index out of range", "TestMain.func", "crash_test.go"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestCrashReachesTheTerminal starts a real `simsiam worker` process (its
// stderr goes through the TF log filter), sends it SIGQUIT and checks that
// the Go runtime's goroutine dump reaches the process's stderr in full:
// without SetCrashOutput it went into the filter's pipe and died with it.
func TestCrashReachesTheTerminal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "worker")
	cmd.Env = append(os.Environ(), "SIMSIAM_TEST_MAIN=1",
		fmt.Sprintf(`TF_CONFIG={"cluster":{"worker":["127.0.0.1:%d"]},"task":{"type":"worker","index":0}}`, port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by PID, if anything below fails
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving at") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start in 60 s; stderr:\n%s", stderr.String())
	}
	// A SIGQUIT within the first moments of TensorFlow's gRPC server start
	// can kill the process with the default action, dump-less (seen in
	// about a third of immediate signals, never 0.3 s later): wait until the
	// port takes connections, and a little more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server port %d does not accept connections: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30 s after SIGQUIT")
	}
	if err == nil {
		t.Fatal("exit 0 after SIGQUIT")
	}
	s := stderr.String()
	for _, want := range []string{"SIGQUIT: quit", "goroutine ", "main.main()"} {
		if !strings.Contains(s, want) {
			t.Errorf("stderr lacks %q; got:\n%s", want, s)
		}
	}
}
