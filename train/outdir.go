package train

// The output folder of a run: its lock, the artifacts a fresh run refuses
// to mix with, the temporary files a killed process leaves and the
// metrics records a resumed run replaces.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// LockFile is the file in output_dir a run holds an exclusive flock on.
const LockFile = ".lock"

// artifacts are the entries of output_dir a run (or linear-eval on its
// checkpoints) writes; a fresh run refuses a folder holding any of them.
// "config.resume-*.yaml" stands for every config a resume saved.
var artifacts = []string{"checkpoints", "config.yaml", HistoryFile, "config.resume-*.yaml", "metrics.jsonl", "saved_model", "logs", "linear"}

// lockOutput creates dir and takes an exclusive, non-blocking flock on
// dir/.lock, writing this process's PID into it. The kernel drops the lock
// when the process exits, however it exits, so a lock file left by a killed
// run does not block; the PID in it only names the holder. Closing the
// returned file releases the lock.
func lockOutput(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
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
			return nil, fmt.Errorf("output_dir %s is in use: %s holds the lock %s (wait for that run to end, or choose another output_dir)", dir, holder, path)
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
	return f, nil
}

// unlockOutput empties the lock file (its PID is no longer true) and
// releases the lock by closing it. The file itself stays: removing it would
// let two later runs lock two different files of the same name.
func unlockOutput(f *os.File) {
	f.Truncate(0)
	f.Close()
}

// findArtifacts lists the artifacts present in dir, in the order of
// artifacts, directories with a trailing slash.
func findArtifacts(dir string) ([]string, error) {
	var found []string
	for _, name := range artifacts {
		if strings.Contains(name, "*") {
			paths, err := filepath.Glob(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			for _, p := range paths {
				found = append(found, filepath.Base(p))
			}
			continue
		}
		st, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			name += "/"
		}
		found = append(found, name)
	}
	return found, nil
}

// moveAside moves the artifacts found in dir into a new folder
// dir/.replaced-TIMESTAMP (UTC; a counter is added when taken) and returns
// its path. Nothing is deleted.
func moveAside(dir string, found []string, now time.Time) (string, error) {
	base := filepath.Join(dir, ".replaced-"+now.UTC().Format("20060102T150405Z"))
	aside := base
	for i := 2; ; i++ {
		err := os.Mkdir(aside, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	for _, name := range found {
		name = strings.TrimSuffix(name, "/")
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name)); err != nil {
			return aside, fmt.Errorf("moving %s aside: %w", name, err)
		}
	}
	return aside, nil
}

// leftoverPatterns match the temporary files and folders a process killed
// while writing leaves in output_dir: a checkpoint's (Saver.Save) and the
// state file's (Checkpoints.Commit), config.yaml's and metrics.jsonl's
// (WriteAtomic) and linear-eval's checkpoints. The SavedModels' leftovers
// are savedModelDirs'.
var leftoverPatterns = []string{
	filepath.Join("checkpoints", ".tmp-*"),
	".tmp-config*.yaml-*", ".tmp-metrics.jsonl-*", preflightFile + "*",
	filepath.Join("linear", ".tmp-*"),
}

// savedModelDirs are the SavedModels a run folder holds: the encoder's
// and linear-eval's. tfgraph.RemoveSavedModelTemps tidies what a killed
// write of them left.
var savedModelDirs = []string{"saved_model", filepath.Join("linear", "saved_model")}

// removeLeftovers deletes the temporary files of a killed run in dir and
// returns their paths relative to dir; a SavedModel that a killed export
// had moved aside is put back, and restored names it. Only call it
// holding dir's lock.
func removeLeftovers(dir string) (removed, restored []string, err error) {
	for _, sm := range savedModelDirs {
		rm, back, err := tfgraph.RemoveSavedModelTemps(filepath.Join(dir, sm))
		for _, p := range rm {
			rel, _ := filepath.Rel(dir, p)
			removed = append(removed, rel)
		}
		if back != "" {
			rel, _ := filepath.Rel(dir, back)
			restored = append(restored, rel+" -> "+sm)
		}
		if err != nil {
			return removed, restored, err
		}
	}
	for _, pat := range leftoverPatterns {
		paths, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return removed, restored, err
		}
		for _, p := range paths {
			if err := os.RemoveAll(p); err != nil {
				return removed, restored, err
			}
			rel, _ := filepath.Rel(dir, p)
			removed = append(removed, rel)
		}
	}
	return removed, restored, nil
}

// trimMetrics makes the metrics file at path end at step: records of later
// steps (logged after the checkpoint a run resumes from) are dropped, and
// so are lines that are not a JSON record with a step, such as the torn
// last line of a killed write. The file is rewritten atomically, and only
// when something changes; a missing file is fine. It returns the number
// of records dropped and of unreadable lines dropped.
func trimMetrics(path string, step int64) (dropped, unreadable int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var keep bytes.Buffer
	unterminated := false
	rd := bufio.NewReader(f)
	for {
		line, rerr := rd.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return 0, 0, fmt.Errorf("reading %s: %w", path, rerr)
		}
		if len(line) > 0 {
			var rec struct{ Step *int64 }
			switch {
			case json.Unmarshal(line, &rec) != nil || rec.Step == nil:
				unreadable++
			case *rec.Step > step:
				dropped++
			default:
				keep.Write(line)
				if rerr == io.EOF { // a whole record whose newline was not written
					keep.WriteByte('\n')
					unterminated = true
				}
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if dropped+unreadable == 0 && !unterminated {
		return 0, 0, nil
	}
	if err := tfgraph.WriteFileAtomic(path, keep.Bytes()); err != nil {
		return 0, 0, err
	}
	return dropped, unreadable, nil
}

// countSkips counts the non-finite steps a run skipped, from the
// "nonfinite_skip" records of its metrics.jsonl (already trimmed to the
// checkpoint's step on resume). A missing file counts none.
func countSkips(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var rec struct {
			Skip *int `json:"nonfinite_skip"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Skip != nil {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}

// LockOutput takes the lock of the run folder dir (see the .lock of a
// training run) for another command that writes into it: linear-eval's
// linear/, an export into dir/saved_model. It fails naming the PID of a
// holder (a training run still writing there). Call unlock when done.
func LockOutput(dir string) (unlock func(), err error) {
	f, err := lockOutput(dir)
	if err != nil {
		return nil, err
	}
	return func() { unlockOutput(f) }, nil
}

// IsRunFolder reports whether dir holds a run's files or its lock: the
// folders whose writers take LockOutput.
func IsRunFolder(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err == nil {
		return true
	}
	found, err := findArtifacts(dir)
	return err == nil && len(found) > 0
}
