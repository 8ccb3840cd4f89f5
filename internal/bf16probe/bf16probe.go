// Package bf16probe decides whether bfloat16 pays on this machine by
// measuring it: CPU flags say whether bfloat16 instructions exist, not
// whether TensorFlow's bfloat16 kernels beat its float32 ones (on an Intel
// Xeon with AVX512-BF16 but no AMX a training step in bf16 ran at 0.91× of
// fp32; on an AMD EPYC with AVX512-BF16 at 1.51×). A short probe of the
// step's kinds of kernels (tfgraph.ProbeBF16) runs once per CPU model,
// TensorFlow version and oneDNN state, and its result is kept in the cache
// folder, so later runs decide in a file read.
package bf16probe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// MinSpeedup is how much faster bf16 must measure than fp32 for auto to
// pick it: clearly faster, beyond the probe's run-to-run noise (a few per
// cent on a quiet machine, about 10 % on a busy one).
const MinSpeedup = 1.15

// Budget is the probe's running time, after its warm-up runs.
const Budget = time.Second

// Result is one measurement and the machine it was made on.
type Result struct {
	// Key names what the result holds for: the CPU model and flags, the
	// TensorFlow version and whether the oneDNN kernels were on.
	Key        string    `json:"key"`
	FP32Millis float64   `json:"fp32_ms"`
	BF16Millis float64   `json:"bf16_ms"`
	Speedup    float64   `json:"speedup"`
	Runs       int       `json:"runs"`
	Measured   time.Time `json:"measured"`
	// Cached is true when the result was read from the cache folder.
	Cached bool `json:"-"`
}

// Faster reports whether bf16 measured clearly faster than fp32.
func (r Result) Faster() bool { return r.Speedup >= MinSpeedup }

// Key is the cache key of cpu, TensorFlow version tf and oneDNN state.
func Key(cpu sysinfo.CPU, tf string, onednn bool) string {
	return fmt.Sprintf("%s|%s|tf %s|onednn %v", cpu.Model, strings.Join(cpu.Vector, " "), tf, onednn)
}

// CacheDir is the folder results are kept in: $SIMSIAM_CACHE (the folder
// the libtensorflow install uses) or the user's cache folder's simsiam/.
func CacheDir() string {
	if d := os.Getenv("SIMSIAM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "simsiam")
	}
	return ""
}

// Path is the file in dir that holds the result for key.
func Path(dir, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "bf16-probe-"+hex.EncodeToString(sum[:8])+".json")
}

// Measure is the probe itself (tfgraph.ProbeBF16), replaceable in tests.
type Measure func() (tfgraph.SpeedProbe, error)

// Get returns the result for key: the one kept in dir, or a new
// measurement, which it then keeps there. A cache that cannot be read or
// written costs a new measurement, not an error; a failed measurement is
// an error.
func Get(dir, key string, measure Measure) (Result, error) {
	if dir != "" {
		if r, ok := load(Path(dir, key), key); ok {
			return r, nil
		}
	}
	p, err := measure()
	if err != nil {
		return Result{}, err
	}
	r := Result{Key: key, FP32Millis: millis(p.FP32), BF16Millis: millis(p.BF16), Speedup: p.Speedup,
		Runs: p.Runs, Measured: time.Now().UTC()}
	if dir != "" {
		if b, err := json.MarshalIndent(r, "", "  "); err == nil && os.MkdirAll(dir, 0o755) == nil {
			_ = tfgraph.WriteFileAtomic(Path(dir, key), append(b, '\n'))
		}
	}
	return r, nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load reads a kept result; a missing, unreadable, oversized or foreign
// file (another key, no speedup) is not one.
func load(path, key string) (Result, bool) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, false
	}
	defer f.Close()
	var r Result
	dec := json.NewDecoder(io.LimitReader(f, 64<<10)) // a result is a few hundred bytes
	if err := dec.Decode(&r); err != nil || r.Key != key || r.Speedup <= 0 {
		return Result{}, false
	}
	r.Cached = true
	return r, true
}

// Describe is one line for logs: "bf16 measured 1.52× fp32 (14.7 ms
// against 9.7 ms, cached)".
func (r Result) Describe() string {
	how := "measured now"
	if r.Cached {
		how = "cached " + r.Measured.Format("2006-01-02")
	}
	return fmt.Sprintf("bf16 measured %.2f× fp32 (%.1f ms against %.1f ms a probe step, %s)", r.Speedup, r.BF16Millis, r.FP32Millis, how)
}
