package data

import (
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"
)

// Position identifies one batch of a [Batcher]: batch Step (0-based) of
// epoch Epoch (0-based). Saving the position of the next batch in a
// checkpoint lets training resume exactly.
type Position struct {
	Epoch, Step int
}

// Batcher splits 0..n-1 into batches of indices, in an order that is a
// seeded random permutation per epoch. The permutation of epoch e depends
// only on (seed, e): it comes from a PCG generator seeded with
// (seed, uint64(e)) driving a Fisher–Yates shuffle implemented here, so it
// is the same on every platform and Go release. A Batcher is immutable and
// safe for concurrent use.
type Batcher struct {
	n, batch int
	seed     uint64
	dropLast bool
}

// NewBatcher returns a Batcher over n items with the given batch size. With
// dropLast, the final short batch of each epoch (n % batch items) is left
// out, so every batch has exactly batch indices; otherwise it is kept. n
// must be non-negative and batch positive.
func NewBatcher(n, batch int, seed uint64, dropLast bool) (*Batcher, error) {
	if n < 0 {
		return nil, fmt.Errorf("data: NewBatcher: n = %d, expected n >= 0", n)
	}
	if batch <= 0 {
		return nil, fmt.Errorf("data: NewBatcher: batch = %d, expected batch > 0", batch)
	}
	return &Batcher{n: n, batch: batch, seed: seed, dropLast: dropLast}, nil
}

// N returns the number of items.
func (b *Batcher) N() int { return b.n }

// BatchSize returns the (maximum) number of indices per batch.
func (b *Batcher) BatchSize() int { return b.batch }

// StepsPerEpoch returns the number of batches in every epoch: n/batch with
// dropLast, ceil(n/batch) without.
func (b *Batcher) StepsPerEpoch() int {
	if b.dropLast {
		return b.n / b.batch
	}
	return (b.n + b.batch - 1) / b.batch
}

// Perm returns the permutation of 0..n-1 used in epoch e.
func (b *Batcher) Perm(e int) []int {
	src := rand.NewPCG(b.seed, uint64(e))
	p := make([]int, b.n)
	for i := range p {
		p[i] = i
	}
	for i := b.n - 1; i > 0; i-- {
		j := int(uniform(src, uint64(i)+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns a uniformly distributed value in [0, n) (n > 0) using
// Lemire's multiply-and-reject method.
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// batchOf returns batch step of a permutation (a sub-slice of perm).
func (b *Batcher) batchOf(perm []int, step int) []int {
	lo := step * b.batch
	hi := min(lo+b.batch, len(perm))
	return perm[lo:hi:hi]
}

// Epoch returns all batches of epoch e, in order. The batches are
// consecutive sub-slices of Perm(e).
func (b *Batcher) Epoch(e int) [][]int {
	perm := b.Perm(e)
	steps := b.StepsPerEpoch()
	out := make([][]int, steps)
	for s := range out {
		out[s] = b.batchOf(perm, s)
	}
	return out
}

// Indices returns the single batch at p, which must be a normalised
// position (0 <= p.Step < StepsPerEpoch()); it returns nil otherwise. It
// computes the epoch's permutation, so iterate with [Batcher.From] or
// [Batcher.Epoch] rather than calling it for every step.
func (b *Batcher) Indices(p Position) []int {
	if p.Step < 0 || p.Step >= b.StepsPerEpoch() {
		return nil
	}
	return b.batchOf(b.Perm(p.Epoch), p.Step)
}

// GlobalStep returns the number of batches before p counted from epoch 0
// step 0: p.Epoch*StepsPerEpoch() + p.Step.
func (b *Batcher) GlobalStep(p Position) int {
	return p.Epoch*b.StepsPerEpoch() + p.Step
}

// PositionAt returns the position of the batch with the given global step
// (the inverse of GlobalStep). Negative steps, and any step when an epoch
// has no batches, give Position{}.
func (b *Batcher) PositionAt(global int) Position {
	spe := b.StepsPerEpoch()
	if global < 0 || spe == 0 {
		return Position{}
	}
	return Position{Epoch: global / spe, Step: global % spe}
}

// Next returns the position after p (the next step, or step 0 of the next
// epoch).
func (b *Batcher) Next(p Position) Position {
	p.Step++
	if p.Step >= b.StepsPerEpoch() {
		p.Epoch++
		p.Step = 0
	}
	return p
}

// normalize carries an oversized Step into Epoch and rejects negative
// positions.
func (b *Batcher) normalize(p Position) (Position, error) {
	if p.Epoch < 0 || p.Step < 0 {
		return p, fmt.Errorf("data: batch position %+v is negative", p)
	}
	spe := b.StepsPerEpoch()
	if spe == 0 {
		return p, fmt.Errorf("data: no batches per epoch (n = %d, batch = %d, dropLast = %v)", b.n, b.batch, b.dropLast)
	}
	p.Epoch += p.Step / spe
	p.Step %= spe
	return p, nil
}

// From returns an endless sequence of (position, batch) pairs starting at
// start and continuing through the following epochs; stop it by breaking
// out of the loop. A Step at or beyond StepsPerEpoch() is carried into the
// epoch. The sequence is empty when start is negative or an epoch has no
// batches. Each yielded batch is a sub-slice of its epoch's permutation and
// stays valid after the loop moves on.
//
// Resuming from the position of the first batch not yet trained on yields
// exactly the batches an uninterrupted run would have seen.
func (b *Batcher) From(start Position) iter.Seq2[Position, []int] {
	return func(yield func(Position, []int) bool) {
		p, err := b.normalize(start)
		if err != nil {
			return
		}
		steps := b.StepsPerEpoch()
		for ; ; p.Epoch, p.Step = p.Epoch+1, 0 {
			perm := b.Perm(p.Epoch)
			for ; p.Step < steps; p.Step++ {
				if !yield(p, b.batchOf(perm, p.Step)) {
					return
				}
			}
		}
	}
}
