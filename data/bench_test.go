package data

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSTL10Stream reads a synthetic 2000-image unlabeled_X.bin
// (55 MB); the reported MB/s is file bytes per second.
func BenchmarkSTL10Stream(b *testing.B) {
	const n = 2000
	dir := b.TempDir()
	one := encodeSTL10(1, 0)
	f, err := os.Create(filepath.Join(dir, "unlabeled_X.bin"))
	if err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, err := f.Write(one); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * stl10ImageBytes)
	b.ResetTimer()
	for b.Loop() {
		s, err := ReadSTL10(dir, "unlabeled")
		if err != nil || s.N != n {
			b.Fatal(s, err)
		}
	}
}

// BenchmarkBatch96 assembles batches of 256 random 96x96x3 images from a
// 1024-image set; MB/s is batch bytes per second.
func BenchmarkBatch96(b *testing.B) {
	s := seqImages(1024, 96, 96, 3, true)
	r := rand.New(rand.NewPCG(1, 2))
	idx := make([]int, 256)
	for i := range idx {
		idx[i] = r.IntN(s.N)
	}
	dst := batch(b, s, idx, nil)
	b.SetBytes(int64(len(dst)))
	b.ResetTimer()
	for b.Loop() {
		dst = batch(b, s, idx, dst)
	}
}

// BenchmarkPrefetch96 measures the throughput of the prefetching pipeline
// for batch 256 of 96x96x3 when the consumer does no work.
func BenchmarkPrefetch96(b *testing.B) {
	s := seqImages(1024, 96, 96, 3, true)
	bt, err := NewBatcher(s.N, 256, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPrefetcher(b.Context(), s, bt, PrefetchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.SetBytes(256 * 96 * 96 * 3)
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
