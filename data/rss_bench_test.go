package data

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// peakRSS is the process's peak resident set size in bytes (VmHWM).
func peakRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	tb.Fatal("VmHWM not found")
	return 0
}

// BenchmarkSTL10UnlabeledPeakRSS streams a synthetic unlabeled_X.bin
// (SIMSIAM_STL10_IMAGES images, default 20000 = 553 MB; the real file has
// 100000 = 2.76 GB) through ReadSTL10 and reports the process's peak RSS as a
// multiple of the file size (target < 1.5: one uint8 copy plus bounded
// buffers, never a float copy). Run it alone (-run XXX -bench
// STL10UnlabeledPeakRSS) so other benchmarks do not raise the peak first.
func BenchmarkSTL10UnlabeledPeakRSS(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("SIMSIAM_STL10_IMAGES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "unlabeled_X.bin"))
	if err != nil {
		b.Fatal(err)
	}
	one := encodeSTL10(1, 0)
	w := bufio.NewWriterSize(f, 1<<20)
	for range n {
		if _, err := w.Write(one); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	size := int64(n) * stl10ImageBytes
	b.SetBytes(size)
	var s *Images
	for b.Loop() {
		s, err = ReadSTL10(dir, "unlabeled")
		if err != nil || s.N != n {
			b.Fatal(s, err)
		}
	}
	b.ReportMetric(float64(peakRSS(b))/float64(size), "peakRSS/file")
	b.ReportMetric(float64(size)/(1<<20), "file_MB")
	_ = s.Pix[0]
}
