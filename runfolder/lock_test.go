package runfolder

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLockHelperProcess is not a test: TestLock runs it in a child process
// to hold a lock until killed.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("RUNFOLDER_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process for TestLock")
	}
	if _, err := Dir(dir).Lock(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(1)
}

// TestLock: a second holder of output_dir is refused with the PID of the
// first, in this process and from another one; a process killed with
// SIGKILL does not leave a lock behind (only its PID in the file).
func TestLock(t *testing.T) {
	dir := Dir(filepath.Join(t.TempDir(), "run")) // created by Lock
	l, err := dir.Lock()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := os.ReadFile(dir.LockFile())
	if string(pid) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("lock file holds %q, want this PID", pid)
	}
	if _, err := dir.Lock(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("PID %d holds the lock", os.Getpid())) {
		t.Fatalf("second lock: err = %v", err)
	}
	l.Unlock()
	if pid, _ := os.ReadFile(dir.LockFile()); len(pid) != 0 {
		t.Errorf("after Unlock the lock file holds %q, want it empty", pid)
	}
	l, err = dir.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.Unlock()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "RUNFOLDER_TEST_HOLD_LOCK="+string(dir))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper process: %q", line)
	}
	if _, err := dir.Lock(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("PID %d holds the lock", cmd.Process.Pid)) {
		t.Fatalf("lock held by the helper (PID %d): err = %v", cmd.Process.Pid, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if pid, _ := os.ReadFile(dir.LockFile()); string(pid) != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Errorf("after kill -9 the lock file holds %q, want the dead PID", pid)
	}
	l, err = dir.Lock()
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	l.Unlock()
}
