package serve

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded is returned by Batcher.Submit when BatchOptions.MaxPending
// requests are already waiting or running; the HTTP server answers 503.
var ErrOverloaded = errors.New("serve: the server is overloaded (the request queue is full); retry later")

// ErrClosed is returned by Batcher.Submit after Close.
var ErrClosed = errors.New("serve: the server is shutting down")

// BatchKey says which requests can share a Session.Run: the same signature
// and the same image shape (the images of a batch form one tensor).
type BatchKey struct {
	Signature string
	H, W, C   int
}

// RunFunc runs one merged batch: n images of key's shape (uint8 NHWC, n*H*W*C
// bytes) through key's signature, returning every output with n rows. The
// Batcher calls it from its runner goroutines.
type RunFunc func(key BatchKey, images []byte, n int) ([]Array, error)

// BatchOptions configure NewBatcher.
type BatchOptions struct {
	// MaxBatch is the most images one Session.Run gets. Requests are merged
	// up to it; a request with more images is split into runs of at most
	// MaxBatch (and its rows joined again).
	MaxBatch int
	// Timeout is how long the first request of a batch waits for others
	// before the batch runs anyway; 0 runs every batch at once (merging
	// only what arrived together while a run was under way).
	Timeout time.Duration
	// MaxPending is the most requests admitted at once, waiting or running;
	// Submit refuses more with ErrOverloaded.
	MaxPending int
	// Threads is the number of batches run at the same time (TensorFlow
	// already spreads one run over the cores, so 1 is usually best).
	Threads int
}

// DefaultBatchOptions are the command's defaults.
func DefaultBatchOptions() BatchOptions {
	return BatchOptions{MaxBatch: 32, Timeout: 2 * time.Millisecond, MaxPending: 256, Threads: 1}
}

// BatchStats counts what the Batcher ran.
type BatchStats struct {
	// Runs is the number of RunFunc calls (Session.Runs).
	Runs int64
	// Images is the number of images run.
	Images int64
	// Sizes maps a batch size (images per run) to how many runs had it.
	Sizes map[int]int64
}

// Batcher merges concurrent requests into batches (TensorFlow Serving's
// dynamic batching): requests with the same BatchKey join an open batch
// until it holds MaxBatch images or its first request has waited Timeout,
// then the batch goes to a runner. It is safe for concurrent use.
type Batcher struct {
	run   RunFunc
	o     BatchOptions
	slots chan struct{}
	in    chan *task
	work  chan *batch
	flush chan struct{}

	flushOnce sync.Once
	mu        sync.RWMutex // held for reading while a Submit enqueues
	closed    bool
	done      sync.WaitGroup

	statsMu sync.Mutex
	stats   BatchStats
}

// request is one Submit call, possibly split into several tasks.
type request struct {
	ctx     context.Context
	left    atomic.Int32
	results [][]Array
	errs    []error
	done    chan struct{}
	release func()
}

// task is the part of a request that goes into one batch.
type task struct {
	req    *request
	part   int
	key    BatchKey
	images []byte
	n      int
}

// batch is a set of tasks with the same key, run with one RunFunc call.
type batch struct {
	key      BatchKey
	tasks    []*task
	n        int
	deadline time.Time
}

// NewBatcher starts the scheduler and o.Threads runners. Close stops them.
func NewBatcher(run RunFunc, o BatchOptions) (*Batcher, error) {
	switch {
	case run == nil:
		return nil, errors.New("serve: batcher: no run function")
	case o.MaxBatch < 1:
		return nil, fmt.Errorf("serve: max batch size %d, want at least 1", o.MaxBatch)
	case o.Timeout < 0:
		return nil, fmt.Errorf("serve: batch timeout %v, want 0 or more", o.Timeout)
	case o.MaxPending < 1:
		return nil, fmt.Errorf("serve: max pending requests %d, want at least 1", o.MaxPending)
	case o.Threads < 1:
		return nil, fmt.Errorf("serve: batch threads %d, want at least 1", o.Threads)
	}
	b := &Batcher{
		run:   run,
		o:     o,
		slots: make(chan struct{}, o.MaxPending),
		in:    make(chan *task),
		work:  make(chan *batch),
		flush: make(chan struct{}),
		stats: BatchStats{Sizes: map[int]int64{}},
	}
	b.done.Add(1 + o.Threads)
	go b.schedule()
	for range o.Threads {
		go b.runner()
	}
	return b, nil
}

// Submit runs n images (uint8, n*H*W*C bytes in key's shape) through key's
// signature together with other requests and returns every output with n
// rows, in the order RunFunc returns them. It fails at once with
// ErrOverloaded when MaxPending requests are under way, and returns
// ctx.Err() when ctx ends first (the request's images are then skipped if
// their batch has not started).
func (b *Batcher) Submit(ctx context.Context, key BatchKey, images []byte, n int) ([]Array, error) {
	outs, err := b.SubmitParts(ctx, []Part{{Key: key, Images: images, N: n}})
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// Part is one group of a request's images that share a BatchKey: N images,
// N*H*W*C bytes in Key's shape.
type Part struct {
	Key    BatchKey
	Images []byte
	N      int
}

// SubmitParts is Submit for a request whose images come in several shapes
// (decoded image files of different sizes): each part joins the batches
// of its key, and the request counts once against MaxPending. It returns
// the outputs of each part, outs[p] with parts[p].N rows.
func (b *Batcher) SubmitParts(ctx context.Context, parts []Part) ([][]Array, error) {
	release, err := b.Reserve()
	if err != nil {
		return nil, err
	}
	return b.SubmitReserved(ctx, release, parts)
}

// Reserve takes one of the MaxPending request slots ahead of
// SubmitReserved (the HTTP server takes it before decoding, so that an
// overloaded server refuses a request before it spends anything on it). It
// fails at once with ErrOverloaded when none is free. The slot is freed by
// SubmitReserved, or by calling release when the request is given up.
func (b *Batcher) Reserve() (release func(), err error) {
	select {
	case b.slots <- struct{}{}:
	default:
		return nil, ErrOverloaded
	}
	var once sync.Once
	return func() { once.Do(func() { <-b.slots }) }, nil
}

// SubmitReserved is SubmitParts in the slot Reserve returned with release,
// which it frees when the request is answered (or at once on a bad
// request).
func (b *Batcher) SubmitReserved(ctx context.Context, release func(), parts []Part) ([][]Array, error) {
	if len(parts) == 0 {
		release()
		return nil, errors.New("serve: no images")
	}
	for _, p := range parts {
		if p.N < 1 {
			release()
			return nil, fmt.Errorf("serve: %d images, want at least 1", p.N)
		}
		k := p.Key
		if k.H < 1 || k.W < 1 || k.C < 1 || len(p.Images) != p.N*k.H*k.W*k.C {
			release()
			return nil, fmt.Errorf("serve: %d bytes for %d images of %dx%dx%d", len(p.Images), p.N, k.H, k.W, k.C)
		}
	}
	req := &request{
		ctx:     ctx,
		done:    make(chan struct{}),
		release: release,
	}
	// Each part is split into runs of at most MaxBatch images; first[p] is
	// the index of part p's first task.
	var tasks []*task
	first := make([]int, len(parts)+1)
	for pi, p := range parts {
		first[pi] = len(tasks)
		per := p.Key.H * p.Key.W * p.Key.C
		for lo := 0; lo < p.N; lo += b.o.MaxBatch {
			hi := min(p.N, lo+b.o.MaxBatch)
			tasks = append(tasks, &task{req: req, part: len(tasks), key: p.Key, images: p.Images[lo*per : hi*per], n: hi - lo})
		}
	}
	first[len(parts)] = len(tasks)
	req.results = make([][]Array, len(tasks))
	req.errs = make([]error, len(tasks))
	req.left.Store(int32(len(tasks)))

	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		for _, t := range tasks {
			b.finish(t, nil, ErrClosed)
		}
		return nil, ErrClosed
	}
	for i, t := range tasks {
		select {
		case b.in <- t:
			continue
		case <-ctx.Done():
		}
		for _, rest := range tasks[i:] {
			b.finish(rest, nil, ctx.Err())
		}
		break
	}
	b.mu.RUnlock()

	select {
	case <-req.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, err := range req.errs {
		if err != nil {
			return nil, err
		}
	}
	outs := make([][]Array, len(parts))
	for pi := range parts {
		res := req.results[first[pi]:first[pi+1]]
		outs[pi] = make([]Array, len(res[0]))
		for o := range outs[pi] {
			cols := make([]Array, len(res))
			for k := range cols {
				cols[k] = res[k][o]
			}
			a, err := concatRows(cols)
			if err != nil {
				return nil, err
			}
			outs[pi][o] = a
		}
	}
	return outs, nil
}

// finish records the result of one task; the last one of a request frees
// its slot and wakes Submit.
func (b *Batcher) finish(t *task, res []Array, err error) {
	t.req.results[t.part], t.req.errs[t.part] = res, err
	if t.req.left.Add(-1) == 0 {
		t.req.release()
		close(t.req.done)
	}
}

// schedule forms batches from submitted tasks and hands them to the
// runners.
func (b *Batcher) schedule() {
	defer b.done.Done()
	defer close(b.work)
	open := map[BatchKey]*batch{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	draining := false
	flush := b.flush
	dispatchExpired := func(all bool) {
		now := time.Now()
		var ready []*batch
		for k, bt := range open {
			if all || !bt.deadline.After(now) {
				ready = append(ready, bt)
				delete(open, k)
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].deadline.Before(ready[j].deadline) })
		for _, bt := range ready {
			b.work <- bt
		}
	}
	for {
		var timeout <-chan time.Time
		if len(open) > 0 {
			first := time.Time{}
			for _, bt := range open {
				if first.IsZero() || bt.deadline.Before(first) {
					first = bt.deadline
				}
			}
			timer.Reset(time.Until(first))
			timeout = timer.C
		}
		select {
		case t, ok := <-b.in:
			timer.Stop()
			if !ok {
				dispatchExpired(true)
				return
			}
			bt := open[t.key]
			if bt != nil && bt.n+t.n > b.o.MaxBatch {
				delete(open, t.key)
				b.work <- bt
				bt = nil
			}
			if bt == nil {
				bt = &batch{key: t.key, deadline: time.Now().Add(b.o.Timeout)}
				open[t.key] = bt
			}
			bt.tasks = append(bt.tasks, t)
			bt.n += t.n
			if bt.n >= b.o.MaxBatch || draining || b.o.Timeout == 0 {
				delete(open, t.key)
				b.work <- bt
			}
		case <-timeout:
			dispatchExpired(false)
		case <-flush:
			timer.Stop()
			draining, flush = true, nil
			dispatchExpired(true)
		}
	}
}

// runner runs batches until the scheduler stops.
func (b *Batcher) runner() {
	defer b.done.Done()
	for bt := range b.work {
		b.runBatch(bt)
	}
}

// runBatch runs the live tasks of one batch with one RunFunc call and
// splits the outputs among them.
func (b *Batcher) runBatch(bt *batch) {
	live := bt.tasks[:0:0]
	n := 0
	for _, t := range bt.tasks {
		if err := t.req.ctx.Err(); err != nil {
			b.finish(t, nil, err)
			continue
		}
		live = append(live, t)
		n += t.n
	}
	if len(live) == 0 {
		return
	}
	images := live[0].images
	if len(live) > 1 {
		images = make([]byte, 0, n*bt.key.H*bt.key.W*bt.key.C)
		for _, t := range live {
			images = append(images, t.images...)
		}
	}
	outs, err := b.run(bt.key, images, n)
	if err == nil {
		for _, o := range outs {
			if len(o.Shape) == 0 || o.Shape[0] != int64(n) {
				err = fmt.Errorf("serve: signature %s returned an output of shape %v for a batch of %d images (every output needs one row per image)", bt.key.Signature, o.Shape, n)
				break
			}
		}
	}
	b.statsMu.Lock()
	b.stats.Runs++
	b.stats.Images += int64(n)
	b.stats.Sizes[n]++
	b.statsMu.Unlock()
	row := 0
	for _, t := range live {
		if err != nil {
			b.finish(t, nil, err)
			continue
		}
		res := make([]Array, len(outs))
		for i, o := range outs {
			res[i] = o.Rows(row, row+t.n)
		}
		row += t.n
		b.finish(t, res, nil)
	}
}

// Stats returns a copy of the counters.
func (b *Batcher) Stats() BatchStats {
	b.statsMu.Lock()
	defer b.statsMu.Unlock()
	s := b.stats
	s.Sizes = make(map[int]int64, len(b.stats.Sizes))
	for k, v := range b.stats.Sizes {
		s.Sizes[k] = v
	}
	return s
}

// Pending is the number of requests admitted and not yet answered.
func (b *Batcher) Pending() int { return len(b.slots) }

// Flush runs every open batch now and stops waiting for batches to fill
// from then on (used when the server shuts down, so that requests under
// way are answered at once).
func (b *Batcher) Flush() {
	b.flushOnce.Do(func() { close(b.flush) })
}

// Close refuses new requests, runs those already submitted and returns
// when the runners have stopped.
func (b *Batcher) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.done.Wait()
		return
	}
	b.closed = true
	b.mu.Unlock()
	b.Flush()
	close(b.in)
	b.done.Wait()
}
