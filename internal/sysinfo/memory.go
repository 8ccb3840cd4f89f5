package sysinfo

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// Memory is what this machine (or the cgroup the process runs in) can
// give a new allocation, in bytes.
type Memory struct {
	// Available is /proc/meminfo's MemAvailable, lowered to what the
	// cgroup's memory.max leaves when that is smaller; 0 when unknown.
	Available int64
	// Source says where Available came from.
	Source string
}

// ReadMemory reads /proc/meminfo and the cgroup v2 limit of this process.
func ReadMemory() Memory {
	var m Memory
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.Available = ParseMemAvailable(f)
		m.Source = "MemAvailable"
		f.Close()
	}
	if limit, used, ok := cgroupLimit(); ok && (m.Available == 0 || limit-used < m.Available) {
		m.Available = max(limit-used, 0)
		m.Source = "cgroup memory.max"
	}
	return m
}

// ParseMemAvailable returns the MemAvailable line of a /proc/meminfo text
// in bytes (0 when missing).
func ParseMemAvailable(r io.Reader) int64 {
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// cgroupLimit reads memory.max and memory.current of this process's cgroup
// (v2); ok is false without a limit.
func cgroupLimit() (limit, used int64, ok bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, 0, false
	}
	path, found := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	if !found || strings.Contains(path, "\n") {
		return 0, 0, false
	}
	dir := "/sys/fs/cgroup" + path
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(dir + "/" + name)
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v, err == nil
	}
	limit, ok = read("memory.max") // "max" (no limit) does not parse
	if !ok {
		return 0, 0, false
	}
	used, _ = read("memory.current")
	return limit, used, true
}
