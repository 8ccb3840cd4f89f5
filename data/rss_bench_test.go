package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux
// clear_refs 5), so that a benchmark's setup does not count.
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Logf("cannot reset the peak RSS: %v", err)
	}
}

// noisyImage is a 96x96 RGB image that compresses about like a photo
// (smooth gradients plus per-pixel noise): i's PNG is 15-25 KB, as STL-10's
// TFDS shards are (1.9 GB for 113,000 images).
func noisyImage(i int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, 96, 96))
	state := uint32(i)*2654435761 + 1
	for y := range 96 {
		for x := range 96 {
			state = state*1664525 + 1013904223
			n := byte(state>>27) - 16
			m.SetNRGBA(x, y, color.NRGBA{byte(x+i) + n, byte(y*2+i/7) + n, byte(x+y+i/3) + n, 255})
		}
	}
	return m
}

// BenchmarkTFDSSTL10PeakRSS builds STL-10's TFDS layout (stl10/1.0.0 with
// dataset_info.json, features.json and the unlabelled split as 16 PNG
// shards, as tensorflow-datasets names them) from SIMSIAM_TFDS_IMAGES
// generated 96x96 images (default 5000; the real split has 100000), reads
// it with ReadTFDS and reports the peak RSS of the read as a multiple of
// the decoded uint8 set (N*96*96*3 bytes), the shard bytes and the read
// rate. Generating 100000 images takes about two minutes and 2 GB in the
// temporary folder, which the benchmark removes; with SIMSIAM_TFDS_DIR the
// layout is generated there once and reused by later runs (delete it
// yourself). Run it alone (-run XXX -bench TFDSSTL10PeakRSS -benchtime 1x).
func BenchmarkTFDSSTL10PeakRSS(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("SIMSIAM_TFDS_IMAGES")); err == nil && v > 0 {
		n = v
	}
	base := os.Getenv("SIMSIAM_TFDS_DIR")
	if base == "" {
		base = b.TempDir()
	}
	root := filepath.Join(base, "stl10", "1.0.0")
	if !isFile(filepath.Join(root, "dataset_info.json")) {
		generateSTL10TFDS(b, root, n)
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(b)
	before := peakRSS(b)
	var s *Images
	var err error
	start := time.Now()
	for b.Loop() {
		s, err = ReadTFDS(root, "unlabeled", "image", "label", 0, 96)
		if err != nil || s.Labels != nil {
			b.Fatal(s, err)
		}
	}
	elapsed := time.Since(start)
	peak := peakRSS(b)
	decoded := int64(s.N) * stl10ImageBytes
	b.SetBytes(decoded)
	var disk int64
	shards, _ := filepath.Glob(filepath.Join(root, "*.tfrecord-*"))
	for _, p := range shards {
		if st, err := os.Stat(p); err == nil {
			disk += st.Size()
		}
	}
	b.ReportMetric(float64(s.N), "images")
	b.ReportMetric(float64(peak)/float64(decoded), "peakRSS/decoded")
	b.ReportMetric(float64(peak)/(1<<20), "peakRSS_MB")
	b.ReportMetric(float64(before)/(1<<20), "startRSS_MB")
	b.ReportMetric(float64(decoded)/(1<<20), "decoded_MB")
	b.ReportMetric(float64(disk)/(1<<20), "shards_MB")
	b.ReportMetric(float64(s.N)*float64(b.N)/elapsed.Seconds(), "images/s")
}

// generateSTL10TFDS writes the unlabelled split of n noisyImages as 16
// shards with the metadata files.
func generateSTL10TFDS(b *testing.B, root string, n int) {
	const shards = 16
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	var lengths []string
	var wg sync.WaitGroup
	errs := make([]error, shards)
	for k := range shards {
		lo, hi := k*n/shards, (k+1)*n/shards
		lengths = append(lengths, fmt.Sprintf("%q", strconv.Itoa(hi-lo)))
		wg.Go(func() {
			f, err := os.Create(filepath.Join(root, fmt.Sprintf("stl10-unlabelled.tfrecord-%05d-of-%05d", k, shards)))
			if err != nil {
				errs[k] = err
				return
			}
			w := bufio.NewWriterSize(f, 1<<20)
			var rec []byte
			for i := lo; i < hi; i++ {
				var buf bytes.Buffer
				if err := png.Encode(&buf, noisyImage(i)); err != nil {
					errs[k] = err
					return
				}
				ex := encodeExample(map[string]exFeature{"image": bytesFeature(buf.Bytes()), "label": int64Feature(-1)})
				rec = AppendTFRecord(rec[:0], ex)
				if _, err := w.Write(rec); err != nil {
					errs[k] = err
					return
				}
			}
			if err := w.Flush(); err != nil {
				errs[k] = err
			}
			errs[k] = errors.Join(errs[k], f.Close())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	writeBenchFile(b, filepath.Join(root, "features.json"), `{"featuresDict": {"features": {"image": {"image": {"dtype": "uint8", "shape": {"dimensions": ["96", "96", "3"]}, "encodingFormat": "png"}}, "label": {"classLabel": {"numClasses": "10"}}}}}`)
	// dataset_info.json last: its presence marks a complete layout.
	writeBenchFile(b, filepath.Join(root, "dataset_info.json"), fmt.Sprintf(`{"fileFormat": "tfrecord", "name": "stl10", "version": "1.0.0", "splits": [{"filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}", "name": "unlabelled", "shardLengths": [%s]}]}`, strings.Join(lengths, ", ")))
}

func writeBenchFile(b *testing.B, path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
}
