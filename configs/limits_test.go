package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// allocated runs f and returns the bytes it allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// laughs is a "billion laughs" YAML flow value: anchor a0 holds 10 numbers
// and every next anchor 10 aliases of the previous one, so that the value
// stands for 10^levels numbers once expanded, in a few hundred bytes.
func laughs(levels int) string {
	items := []string{"&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"}
	for i := 1; i < levels; i++ {
		items = append(items, fmt.Sprintf("&a%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", ")))
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// countProblems is the number of lines of an error of Load.
func countProblems(err error) int {
	return len(strings.Split(strings.TrimSpace(err.Error()), "\n"))
}

func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	// Repeated keys, the shape that once took 6.2 GB for 50 MB.
	if err := os.WriteFile(big, []byte(strings.Repeat("seed: 1\n", MaxFileBytes/8+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	start := time.Now()
	n := allocated(func() { _, err = Load(LoadOptions{File: big}) })
	want := fmt.Sprintf("%s is %d bytes (1.0 MiB), over the limit of 1048576 bytes (1.0 MiB) for a config file", big, MaxFileBytes+8)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load(%d bytes) = %v, want an error containing %q", MaxFileBytes+8, err, want)
	}
	if strings.Contains(err.Error(), "duplicate key") || countProblems(err) != 1 {
		t.Errorf("the file was parsed: %v", err)
	}
	if n > 8<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 8 MiB", n)
	}
	t.Logf("%d bytes refused in %v, %d bytes allocated", MaxFileBytes+8, time.Since(start), n)

	// A stream without an end is refused after MaxFileBytes+1 bytes.
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := Load(LoadOptions{File: "/dev/zero"})
		if err == nil || !strings.Contains(err.Error(), "/dev/zero is more than 1048576 bytes (1.0 MiB), over the limit") {
			t.Errorf("Load(/dev/zero) = %v", err)
		}
	}

	// At the limit the file is read, and its 131072 problems are cut to
	// MaxErrors.
	atLimit := filepath.Join(dir, "limit.yaml")
	if err := os.WriteFile(atLimit, []byte(strings.Repeat("seed: 1\n", MaxFileBytes/8)), 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	n = allocated(func() { _, err = Load(LoadOptions{File: atLimit}) })
	if err == nil {
		t.Fatal("a file of duplicate keys loaded")
	}
	if got := countProblems(err); got != MaxErrors+1 {
		t.Errorf("%d lines of errors, want %d and a count", got, MaxErrors)
	}
	if want := fmt.Sprintf("... and %d more", MaxFileBytes/8-1-MaxErrors); !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error ends %q, want %q", err.Error()[max(0, len(err.Error())-80):], want)
	}
	t.Logf("%d bytes at the limit: %v, %d MiB allocated", MaxFileBytes, time.Since(start), n>>20)
	if n > 512<<20 {
		t.Errorf("a file at the limit allocated %d MiB, want under 512", n>>20)
	}
}

func TestErrorCap(t *testing.T) {
	var file strings.Builder
	for i := range 100 {
		fmt.Fprintf(&file, "unknown_%d: 1\n", i)
	}
	var sets []string
	for i := range 30 {
		sets = append(sets, fmt.Sprintf("optim.batch_sise%d=1", i))
	}
	// Validation problems: more than MaxErrors keys out of range.
	var invalid []string
	for _, f := range schema().leaves {
		switch f.typ.String() {
		case "int", "float64":
			if f.key != "seed" {
				invalid = append(invalid, f.key+"=-1")
			}
		}
	}
	tests := []struct {
		name  string
		opts  LoadOptions
		total int
	}{
		{"file", LoadOptions{File: writeFile(t, file.String())}, 100},
		{"file and sets", LoadOptions{File: writeFile(t, file.String()), Sets: sets}, 130},
		{"validation", LoadOptions{Sets: invalid}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.opts)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := countProblems(err); got != MaxErrors+1 {
				t.Errorf("%d lines, want %d problems and a count:\n%v", got, MaxErrors, err)
			}
			last := err.Error()[strings.LastIndex(err.Error(), "\n")+1:]
			var more int
			if _, serr := fmt.Sscanf(last, "... and %d more", &more); serr != nil {
				t.Fatalf("last line %q: %v", last, serr)
			}
			if tt.total > 0 && more != tt.total-MaxErrors {
				t.Errorf("%q, want %d more", last, tt.total-MaxErrors)
			}
		})
	}
	// Up to MaxErrors problems are all listed, without a count.
	_, err := Load(LoadOptions{Sets: sets[:MaxErrors]})
	if err == nil || countProblems(err) != MaxErrors || strings.Contains(err.Error(), "more") {
		t.Errorf("%d problems: %v", MaxErrors, err)
	}
}

func TestValueSizeLimit(t *testing.T) {
	long := "[" + strings.TrimSuffix(strings.Repeat("0.5, ", MaxValueBytes/5+1), ", ") + "]"
	path := strings.Repeat("d", MaxValueBytes+1)
	tests := []struct {
		name string
		opts LoadOptions
		want string
	}{
		{"set list", LoadOptions{Sets: []string{"data.mean=" + long}}, fmt.Sprintf("data.mean: the value is %d bytes", len(long))},
		{"set string", LoadOptions{Sets: []string{"output_dir=" + path}}, "output_dir: the value is 65537 bytes (64.0 KiB), over the limit of 65536 bytes (64.0 KiB)"},
		{"env", LoadOptions{Env: []string{"SIMSIAM_DATA_STD=" + long}}, "environment variable SIMSIAM_DATA_STD: data.std: the value is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %.300v, want an error containing %q", err, tt.want)
			}
			if len(err.Error()) > 500 {
				t.Errorf("the error repeats the value: %d bytes", len(err.Error()))
			}
		})
	}
	// At the limit a value is read.
	ok := strings.Repeat("d", MaxValueBytes)
	c, err := Load(LoadOptions{Sets: []string{"output_dir=" + ok}})
	if err != nil || c.OutputDir != ok {
		t.Errorf("a value of %d bytes: %.200v", MaxValueBytes, err)
	}
}

func TestAliasExpansionLimit(t *testing.T) {
	// Under a key: 10^9 numbers if expanded.
	bomb := "data:\n  mean: " + laughs(9) + "\n"
	tests := []struct {
		name    string
		opts    LoadOptions
		want    string
		wantNot string
	}{
		{"file", LoadOptions{File: writeFile(t, bomb)}, fmt.Sprintf("config.yaml:2: data.mean: the value has more than %d YAML nodes", MaxValueNodes), ""},
		{"unknown keys are not expanded", LoadOptions{File: writeFile(t, strings.Replace(bomb, "  mean:", "  meen:", 1))}, `unknown key "data.meen"`, "YAML nodes"},
		{"alias of an anchor in another key", LoadOptions{File: writeFile(t, strings.Replace(bomb, "  mean:", "  meen:", 1)+"  std: *a8\n")}, "data.std: the value has more than", ""},
		{"alias that contains itself", LoadOptions{File: writeFile(t, "data:\n  mean: &x [0.5, *x]\n")}, "data.mean: the value has more than", ""},
		{"set", LoadOptions{Sets: []string{"data.mean=" + laughs(9)}}, "--set data.mean=[&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", ""},
		{"env", LoadOptions{Env: []string{"SIMSIAM_DATA_STD=" + laughs(9)}}, "SIMSIAM_DATA_STD: data.std: \"[&a0", ""},
		{"deep nesting", LoadOptions{File: writeFile(t, "data:\n  mean: "+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+"\n")}, "config.yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			start := time.Now()
			n := allocated(func() { _, err = Load(tt.opts) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %.500v, want an error containing %q", err, tt.want)
			}
			if tt.wantNot != "" && strings.Contains(err.Error(), tt.wantNot) {
				t.Errorf("error %q contains %q", err, tt.wantNot)
			}
			if n > 32<<20 {
				t.Errorf("allocated %d MiB, want under 32", n>>20)
			}
			t.Logf("%v, %d KiB allocated", time.Since(start), n>>10)
		})
	}
	// Aliases within the bound still work (TestAliases has the plain case).
	c, err := Load(LoadOptions{File: writeFile(t, "data:\n  channels: 1\n  mean: &m [0.5]\n  std: *m\n")})
	if err != nil || c.Data.Std[0] != 0.5 {
		t.Errorf("Load = %v", err)
	}
}

func TestExpandedNodes(t *testing.T) {
	parse := func(s string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	tests := []struct {
		doc   string
		limit int
		want  int
	}{
		{"1", 10, 1},
		{"[1, 2, 3]", 10, 4},
		{"{a: 1, b: [2, 3]}", 100, 7},
		{"[&x [1, 2], *x, *x]", 100, 1 + 3 + 2*(1+3)},
		{"[&x [1, 2], *x, *x]", 5, 6},
		{"&x [1, *x]", 1000, 1001},
		{laughs(9), MaxValueNodes, MaxValueNodes + 1},
		{laughs(2), 1000, 1 + 11 + 1 + 10*(1+11)}, // an alias counts itself and its target
	}
	for _, tt := range tests {
		if got := expandedNodes(parse(tt.doc), tt.limit); got != tt.want {
			t.Errorf("expandedNodes(%.40q, %d) = %d, want %d", tt.doc, tt.limit, got, tt.want)
		}
	}
}
