package data

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestPrefetchMatchesBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		labelled bool
		dropLast bool
		depth    int
		start    Position
	}{
		{"labelled from start", true, false, 0, Position{}},
		{"unlabeled resumed", false, false, 1, Position{Epoch: 1, Step: 2}},
		{"dropLast deep queue", true, true, 5, Position{Epoch: 2, Step: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := seqImages(37, 4, 3, 3, tc.labelled)
				b := mustBatcher(t, s.N, 8, 11, tc.dropLast)
				steps := 3*b.StepsPerEpoch() + 1
				p, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{Start: tc.start, Steps: steps, Depth: tc.depth})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				k := 0
				buffers := map[*Prefetched]bool{}
				for pos, idx := range b.From(tc.start) {
					if k == steps {
						break
					}
					got, err := p.Next()
					if err != nil {
						t.Fatalf("batch %d: %v", k, err)
					}
					buffers[got] = true
					if got.Pos != pos || !slices.Equal(got.Idx, idx) {
						t.Fatalf("batch %d at %v %v, want %v %v", k, got.Pos, got.Idx, pos, idx)
					}
					if !bytes.Equal(got.Pix, batch(t, s, idx, nil)) {
						t.Fatalf("batch %d pixels differ from Batch", k)
					}
					if !slices.Equal(got.Labels, batchLabels(t, s, idx, nil)) {
						t.Fatalf("batch %d labels differ", k)
					}
					k++
				}
				if _, err := p.Next(); err != io.EOF {
					t.Fatalf("after %d batches: %v, want io.EOF", steps, err)
				}
				depth := tc.depth
				if depth == 0 {
					depth = 2 // the default
				}
				if len(buffers) > depth+2 {
					t.Fatalf("%d distinct buffers, want at most %d (recycling)", len(buffers), depth+2)
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Next(); err != ErrClosed {
					t.Fatalf("Next after Close: %v, want ErrClosed", err)
				}
			})
			// synctest.Test fails the test if a goroutine started in the
			// bubble is still blocked when the function returns.
		})
	}
}

func TestPrefetchCloseEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := seqImages(100, 2, 2, 1, false)
		b := mustBatcher(t, s.N, 10, 1, false)
		p, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{Depth: 3}) // unlimited
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // let the producer fill the queue and block
		p.Close()
		p.Close() // idempotent
		if _, err := p.Next(); err != ErrClosed {
			t.Fatalf("Next after Close: %v", err)
		}
	})
}

func TestPrefetchCloseFromOtherGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := seqImages(40, 2, 2, 1, false)
		b := mustBatcher(t, s.N, 4, 1, false)
		p, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{}) // unlimited
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int)
		res := make(chan error)
		go func() {
			n := 0
			for {
				if _, err := p.Next(); err != nil {
					res <- err
					return
				}
				n++
				if n == 7 {
					got <- n
				}
			}
		}()
		<-got
		p.Close()
		if err := <-res; err != ErrClosed {
			t.Fatalf("consumer stopped with %v, want ErrClosed", err)
		}
	})
}

func TestPrefetchContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := seqImages(50, 2, 2, 1, true)
		b := mustBatcher(t, s.N, 4, 1, false)
		ctx, cancel := context.WithCancel(context.Background())
		p, err := NewPrefetcher(ctx, s, b, PrefetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for range 5 {
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		if _, err := p.Next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v, want context.Canceled", err)
		}
		synctest.Wait() // the producer must exit on its own, before Close
	})
}

// TestPrefetchNoLeak checks with the real scheduler that Close leaves no
// goroutine behind, for an unlimited producer blocked on a full queue.
func TestPrefetchNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := seqImages(64, 8, 8, 3, true)
	b := mustBatcher(t, s.N, 16, 5, true)
	for range 20 {
		p, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{Depth: 2})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		}
		p.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

func TestNewPrefetcherErrors(t *testing.T) {
	s := seqImages(10, 2, 2, 1, false)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		b   *Batcher
		opt PrefetchOptions
	}{
		"size mismatch":  {mustBatcher(t, 11, 2, 1, false), PrefetchOptions{}},
		"no batches":     {mustBatcher(t, 10, 20, 1, true), PrefetchOptions{}},
		"negative steps": {mustBatcher(t, 10, 2, 1, false), PrefetchOptions{Steps: -1}},
		"negative depth": {mustBatcher(t, 10, 2, 1, false), PrefetchOptions{Depth: -1}},
		"negative start": {mustBatcher(t, 10, 2, 1, false), PrefetchOptions{Start: Position{Epoch: -1}}},
		"nil batcher":    {nil, PrefetchOptions{}},
	} {
		if p, err := NewPrefetcher(ctx, s, tc.b, tc.opt); err == nil {
			p.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
