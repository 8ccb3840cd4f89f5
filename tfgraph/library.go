package tfgraph

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// LoadedLibrary is the path of the first shared library mapped into this
// process whose file name starts with prefix ("libtensorflow_cc.so",
// "libcudart.so"), or "" when none is (or /proc/self/maps is unreadable).
// It tells which libtensorflow a binary really loaded, and whether the
// CUDA runtime came with it.
func LoadedLibrary(prefix string) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := fields[len(fields)-1]
		if strings.HasPrefix(filepath.Base(path), prefix) {
			return path
		}
	}
	return ""
}
