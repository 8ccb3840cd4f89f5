package train

// The output folder of a run (its names are runfolder's): the temporary
// files a killed process leaves and the metrics records a resumed run
// replaces.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// removeLeftovers deletes the temporary files of a killed run in dir and
// returns their paths relative to dir; a SavedModel that a killed export
// had moved aside is put back, and restored names it. Only call it
// holding dir's lock.
func removeLeftovers(dir string) (removed, restored []string, err error) {
	for _, sm := range runfolder.SavedModels() {
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
	for _, pat := range runfolder.LeftoverPatterns() {
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
			rec, perr := runfolder.ParseRecord(line)
			switch {
			case perr != nil || rec.Step == nil:
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
		if rec, err := runfolder.ParseRecord(sc.Bytes()); err == nil && rec.Skip != nil {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}
