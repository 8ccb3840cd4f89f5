package data

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// PrefetchOptions configures a [Prefetcher].
type PrefetchOptions struct {
	// Start is the position of the first batch to produce. A Step at or
	// beyond the batcher's StepsPerEpoch is carried into the epoch.
	Start Position
	// Steps is the number of batches to produce before Next returns io.EOF;
	// 0 means no limit (the batches continue through the epochs).
	Steps int
	// Depth is the number of assembled batches that may wait in the queue
	// ahead of the consumer; 0 means 2.
	Depth int
	// Shards > 1 makes every batch this shard's part of the batcher's
	// batch: the indices at Shard, Shard+Shards, Shard+2*Shards, ... (the
	// workers of a data-parallel job each take theirs of one global batch).
	Shard, Shards int
}

// Prefetched is one assembled batch handed out by [Prefetcher.Next].
type Prefetched struct {
	// Pos is the position of the batch in the batcher's schedule.
	Pos Position
	// Idx holds the image indices of the batch. It aliases the epoch's
	// permutation (or, with Shards, is a copy of this shard's part) and
	// stays valid.
	Idx []int
	// Pix holds the images of Idx in NHWC order, len(Idx)*H*W*C bytes.
	Pix []byte
	// Labels holds the labels of Idx, or is nil for an unlabeled set.
	Labels []int32
}

// Prefetcher assembles uint8 batches of an [Images] on a background
// goroutine, following the schedule of a [Batcher], so that the next batch
// is ready while the caller works on the current one. Buffers are recycled:
// Depth+2 batches exist in total (the one being filled, up to Depth queued
// and the one the consumer holds).
//
// Next is meant to be called from one goroutine; Close may be called from
// any goroutine and at any time, also while Next is waiting.
type Prefetcher struct {
	ctx     context.Context
	out     chan *Prefetched // assembled batches, closed when the producer ends
	free    chan *Prefetched // recycled buffers
	done    chan struct{}    // closed by Close
	once    sync.Once
	wg      sync.WaitGroup
	cur     *Prefetched // batch last handed to the consumer
	stopErr error       // why the producer stopped; read after out is closed
}

// NewPrefetcher starts a goroutine that assembles the batches of b for s,
// starting at opt.Start. b.N() must equal s.N. The goroutine stops after
// opt.Steps batches, when ctx is cancelled or when Close is called; call
// Close in every case to wait for it and release it.
func NewPrefetcher(ctx context.Context, s *Images, b *Batcher, opt PrefetchOptions) (*Prefetcher, error) {
	if s == nil || b == nil {
		return nil, fmt.Errorf("data: NewPrefetcher: nil images or batcher")
	}
	if b.N() != s.N {
		return nil, fmt.Errorf("data: NewPrefetcher: batcher covers %d items but %s has %d images", b.N(), s.Source, s.N)
	}
	if opt.Shards > 1 && (opt.Shard < 0 || opt.Shard >= opt.Shards) {
		return nil, fmt.Errorf("data: NewPrefetcher: shard %d of %d", opt.Shard, opt.Shards)
	}
	if opt.Steps < 0 || opt.Depth < 0 {
		return nil, fmt.Errorf("data: NewPrefetcher: negative Steps (%d) or Depth (%d)", opt.Steps, opt.Depth)
	}
	start, err := b.normalize(opt.Start)
	if err != nil {
		return nil, fmt.Errorf("data: NewPrefetcher: %w", err)
	}
	depth := opt.Depth
	if depth == 0 {
		depth = 2
	}
	p := &Prefetcher{
		ctx:  ctx,
		out:  make(chan *Prefetched, depth),
		free: make(chan *Prefetched, depth+2),
		done: make(chan struct{}),
	}
	for range depth + 2 {
		p.free <- new(Prefetched)
	}
	p.wg.Go(func() { p.produce(s, b, start, opt) })
	return p, nil
}

// produce is the producer goroutine.
func (p *Prefetcher) produce(s *Images, b *Batcher, pos Position, opt PrefetchOptions) {
	steps := opt.Steps
	defer close(p.out)
	var perm []int
	permEpoch := pos.Epoch
	for k := 0; steps == 0 || k < steps; k++ {
		if perm == nil || pos.Epoch != permEpoch {
			perm, permEpoch = b.Perm(pos.Epoch), pos.Epoch
		}
		var buf *Prefetched
		select {
		case buf = <-p.free:
		case <-p.ctx.Done():
			p.stopErr = p.ctx.Err()
			return
		case <-p.done:
			p.stopErr = ErrClosed
			return
		}
		buf.Pos = pos
		buf.Idx = b.batchOf(perm, pos.Step)
		if opt.Shards > 1 {
			buf.Idx = Shard(buf.Idx, opt.Shard, opt.Shards)
		}
		var err error
		if buf.Pix, err = s.Batch(buf.Idx, buf.Pix); err == nil {
			buf.Labels, err = s.BatchLabels(buf.Idx, buf.Labels)
		}
		if err != nil {
			p.stopErr = fmt.Errorf("data: batch %d of epoch %d: %w", pos.Step, pos.Epoch, err)
			return
		}
		select {
		case p.out <- buf:
		case <-p.ctx.Done():
			p.stopErr = p.ctx.Err()
			return
		case <-p.done:
			p.stopErr = ErrClosed
			return
		}
		pos = b.Next(pos)
	}
	p.stopErr = io.EOF
}

// Next returns the next batch. The returned batch (its Pix and Labels
// buffers) is valid until the following call to Next or Close, after which
// it is reused. Next returns io.EOF after opt.Steps batches, the context's
// error once the context is cancelled, ErrClosed after Close, and the
// error of a batch that could not be assembled.
func (p *Prefetcher) Next() (*Prefetched, error) {
	if p.cur != nil {
		p.free <- p.cur // never blocks: free has room for every buffer
		p.cur = nil
	}
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	if err := p.ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case buf, ok := <-p.out:
		if !ok {
			return nil, p.stopErr
		}
		p.cur = buf
		return buf, nil
	case <-p.done:
		return nil, ErrClosed
	}
}

// Close stops the producer goroutine and waits for it to exit. It is safe
// to call more than once and from any goroutine; it always returns nil.
func (p *Prefetcher) Close() error {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
	return nil
}

// Shard returns the indices of batch at shard, shard+shards, ... (a new
// slice): one worker's part of a global batch.
func Shard(batch []int, shard, shards int) []int {
	out := make([]int, 0, (len(batch)+shards-1-shard)/shards)
	for i := shard; i < len(batch); i += shards {
		out = append(out, batch[i])
	}
	return out
}
