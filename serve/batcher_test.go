package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// echoRun is a RunFunc that returns, per image, its first pixel and the
// batch size as int32 [n, 2], and records the batch sizes it saw.
type echoRun struct {
	mu    sync.Mutex
	sizes []int
	gate  chan struct{} // when set, each run waits for a value
}

func (e *echoRun) run(k BatchKey, images []byte, n int) ([]Array, error) {
	if e.gate != nil {
		<-e.gate
	}
	e.mu.Lock()
	e.sizes = append(e.sizes, n)
	e.mu.Unlock()
	per := k.H * k.W * k.C
	a := Array{DType: tfgraph.Int32, Shape: []int64{int64(n), 2}, Data: make([]byte, 8*n)}
	for i := 0; i < n; i++ {
		binary.NativeEndian.PutUint32(a.Data[8*i:], uint32(images[i*per]))
		binary.NativeEndian.PutUint32(a.Data[8*i+4:], uint32(n))
	}
	return []Array{a}, nil
}

func firstPixels(a Array) []int {
	out := make([]int, a.Shape[0])
	for i := range out {
		out[i] = int(binary.NativeEndian.Uint32(a.Data[8*i:]))
	}
	return out
}

func TestBatcher(t *testing.T) {
	key := BatchKey{Signature: "s", H: 1, W: 1, C: 1}
	for _, c := range []struct {
		name      string
		o         BatchOptions
		requests  []int       // images per concurrent request
		wantSizes map[int]int // nil: only check that no run exceeds MaxBatch
	}{
		// Full batches run at once, without the (hour-long) timeout.
		{"merge to full", BatchOptions{MaxBatch: 4, Timeout: time.Hour, MaxPending: 16, Threads: 1}, []int{1, 1, 1, 1, 1, 1, 1, 1}, map[int]int{4: 2}},
		// A request larger than the batch is split into full runs.
		{"split", BatchOptions{MaxBatch: 4, Timeout: time.Hour, MaxPending: 16, Threads: 2}, []int{12}, map[int]int{4: 3}},
		// A request that does not fit the open batch starts the next one
		// (how they combine depends on the arrival order).
		{"no overflow", BatchOptions{MaxBatch: 4, Timeout: 20 * time.Millisecond, MaxPending: 16, Threads: 1}, []int{3, 3, 1, 1, 2}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &echoRun{}
			b, err := NewBatcher(e.run, c.o)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i, n := range c.requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					img := make([]byte, n)
					for j := range img {
						img[j] = byte(10*i + j)
					}
					out, err := b.Submit(context.Background(), key, img, n)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					got := firstPixels(out[0])
					for j := range got {
						if got[j] != int(img[j]) {
							t.Errorf("request %d row %d: pixel %d, want %d (rows of another request?)", i, j, got[j], img[j])
						}
					}
				}()
			}
			wg.Wait()
			b.Close()
			st := b.Stats()
			total := 0
			for _, n := range c.requests {
				total += n
			}
			if st.Images != int64(total) {
				t.Errorf("%d images run, want %d", st.Images, total)
			}
			for size := range st.Sizes {
				if size > c.o.MaxBatch {
					t.Errorf("a run of %d images, more than MaxBatch %d", size, c.o.MaxBatch)
				}
			}
			if c.wantSizes == nil {
				return
			}
			for size, runs := range c.wantSizes {
				if st.Sizes[size] != int64(runs) {
					t.Errorf("sizes %v (runs %d), want %v", st.Sizes, st.Runs, c.wantSizes)
				}
			}
			if len(st.Sizes) != len(c.wantSizes) {
				t.Errorf("sizes %v, want %v", st.Sizes, c.wantSizes)
			}
		})
	}
}

// TestBatcherKeysAndTimeout: different shapes never share a run, and a
// batch that does not fill runs after the timeout.
func TestBatcherKeysAndTimeout(t *testing.T) {
	e := &echoRun{}
	b, err := NewBatcher(e.run, BatchOptions{MaxBatch: 8, Timeout: 20 * time.Millisecond, MaxPending: 8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for i, k := range []BatchKey{{"s", 1, 1, 1}, {"s", 1, 2, 1}, {"t", 1, 1, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Submit(context.Background(), k, make([]byte, k.H*k.W*k.C), 1)
			if err != nil || out[0].Shape[0] != 1 {
				t.Errorf("key %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if st := b.Stats(); st.Runs != 3 || st.Sizes[1] != 3 {
		t.Errorf("stats %+v, want three runs of one image", st)
	}
}

// TestBatcherOverloadAndClose: MaxPending bounds the requests under way;
// Close answers the ones admitted and refuses later ones; a cancelled
// request is skipped.
func TestBatcherOverloadAndClose(t *testing.T) {
	e := &echoRun{gate: make(chan struct{})}
	b, err := NewBatcher(e.run, BatchOptions{MaxBatch: 1, Timeout: 0, MaxPending: 3, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := BatchKey{"s", 1, 1, 1}
	results := make(chan error, 3)
	waitPending := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for b.Pending() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if b.Pending() != n {
			t.Fatalf("%d requests pending, want %d", b.Pending(), n)
		}
	}
	// Two requests: one in the (held) run, one waiting for the runner.
	for i := range 2 {
		go func() {
			_, err := b.Submit(context.Background(), key, []byte{byte(i)}, 1)
			results <- err
		}()
		waitPending(i + 1)
	}
	// A third waits to be batched, and is cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := b.Submit(ctx, key, []byte{2}, 1)
		results <- err
	}()
	waitPending(3)
	if _, err := b.Submit(context.Background(), key, []byte{9}, 1); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("fourth request: %v, want ErrOverloaded", err)
	}
	cancel()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	e.gate <- struct{}{} // the first run
	e.gate <- struct{}{} // the second
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("admitted request: %v", err)
		}
	}
	if st := b.Stats(); st.Runs != 2 {
		t.Errorf("%d runs, want 2 (the cancelled request skipped)", st.Runs)
	}
	if _, err := b.Submit(context.Background(), key, []byte{1}, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if b.Pending() != 0 {
		t.Errorf("%d slots still taken", b.Pending())
	}
}

func TestBatcherOptions(t *testing.T) {
	e := &echoRun{}
	for _, o := range []BatchOptions{{MaxBatch: 0, MaxPending: 1, Threads: 1}, {MaxBatch: 1, MaxPending: 0, Threads: 1}, {MaxBatch: 1, MaxPending: 1, Threads: 0}, {MaxBatch: 1, MaxPending: 1, Threads: 1, Timeout: -1}} {
		if _, err := NewBatcher(e.run, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
