package runfolder

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock is a held lock of a run folder.
type Lock struct{ f *os.File }

// Lock creates d and takes an exclusive, non-blocking flock on d/.lock,
// writing this process's PID into it: a training run holds it while it
// runs, linear-eval while it writes linear/, an export into
// d/saved_model while it writes. The kernel drops the lock when the
// process exits, however it exits, so a lock file left by a killed
// process does not block; the PID in it only names the holder, and a
// second holder is refused naming it. Call Unlock when done.
func (d Dir) Lock() (*Lock, error) {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return nil, err
	}
	path := d.LockFile()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking output_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = fmt.Sprintf("PID %d", pid)
				}
			}
			return nil, fmt.Errorf("output_dir %s is in use: %s holds the lock %s (wait for that run to end, or choose another output_dir)", string(d), holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock empties the lock file (its PID is no longer true) and releases
// the lock by closing it. The file itself stays: removing it would let two
// later holders lock two different files of the same name.
func (l *Lock) Unlock() {
	l.f.Truncate(0)
	l.f.Close()
}
