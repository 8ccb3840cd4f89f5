package tfgraph

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunpathFindsTheWheelFirst reads this test binary's dynamic section:
// it was linked with the CGO_LDFLAGS setup.sh writes, as bin/simsiam is.
// The first RUNPATH entry must be the wheel's own tensorflow/ folder
// holding the real libtensorflow_cc.so.2 (not a symlink farm), so the
// library's $ORIGIN/../nvidia/*/lib entries find CUDA and cuDNN in the GPU
// wheel with no LD_LIBRARY_PATH; and there must be no DT_RPATH, which would
// override LD_LIBRARY_PATH.
func TestRunpathFindsTheWheelFirst(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rpath, _ := f.DynString(elf.DT_RPATH); len(rpath) > 0 {
		t.Errorf("DT_RPATH %v: link with --enable-new-dtags", rpath)
	}
	runpath, err := f.DynString(elf.DT_RUNPATH)
	if err != nil || len(runpath) == 0 {
		t.Fatalf("no DT_RUNPATH (%v)", err)
	}
	first := strings.Split(runpath[0], ":")[0]
	lib := filepath.Join(first, "libtensorflow_cc.so.2")
	st, err := os.Lstat(lib)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("RUNPATH %s: the first entry %s does not hold the wheel's libtensorflow_cc.so.2 as a file (%v)", runpath[0], first, err)
	}
	if want := os.Getenv("SIMSIAM_TF_LIBDIR"); want != "" && first != want {
		t.Errorf("first RUNPATH entry %s, want setup.sh's %s", first, want)
	}
	if loaded := LoadedLibrary("libtensorflow_cc.so"); filepath.Dir(loaded) != first {
		t.Errorf("libtensorflow loaded from %q, not from the first RUNPATH entry %s", loaded, first)
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range needed {
		found = found || n == "libtensorflow_cc.so.2"
	}
	if !found {
		t.Errorf("NEEDED %v: no libtensorflow_cc.so.2", needed)
	}
}
