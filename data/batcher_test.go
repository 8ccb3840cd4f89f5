package data

import (
	"fmt"
	"slices"
	"testing"
)

func mustBatcher(t testing.TB, n, batch int, seed uint64, dropLast bool) *Batcher {
	t.Helper()
	b, err := NewBatcher(n, batch, seed, dropLast)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewBatcherErrors(t *testing.T) {
	for _, tc := range []struct{ n, batch int }{{-1, 4}, {10, 0}, {10, -2}} {
		if _, err := NewBatcher(tc.n, tc.batch, 1, false); err == nil {
			t.Errorf("NewBatcher(%d, %d) accepted", tc.n, tc.batch)
		}
	}
}

func TestBatcherEpochCoverage(t *testing.T) {
	tests := []struct {
		n, batch int
		dropLast bool
		sizes    []int
	}{
		{10, 3, false, []int{3, 3, 3, 1}},
		{10, 3, true, []int{3, 3, 3}},
		{9, 3, true, []int{3, 3, 3}},
		{9, 3, false, []int{3, 3, 3}},
		{5, 8, false, []int{5}},
		{5, 8, true, nil},
		{0, 4, false, nil},
		{1, 1, false, []int{1}},
		{1000, 64, true, slices.Repeat([]int{64}, 15)},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n=%d,batch=%d,drop=%v", tc.n, tc.batch, tc.dropLast), func(t *testing.T) {
			b := mustBatcher(t, tc.n, tc.batch, 42, tc.dropLast)
			if b.StepsPerEpoch() != len(tc.sizes) {
				t.Fatalf("StepsPerEpoch %d, want %d", b.StepsPerEpoch(), len(tc.sizes))
			}
			for e := range 3 {
				batches := b.Epoch(e)
				var sizes []int
				seen := make(map[int]int)
				for _, bt := range batches {
					sizes = append(sizes, len(bt))
					for _, i := range bt {
						if i < 0 || i >= tc.n {
							t.Fatalf("index %d out of range", i)
						}
						seen[i]++
					}
				}
				if !slices.Equal(sizes, tc.sizes) {
					t.Fatalf("epoch %d batch sizes %v, want %v", e, sizes, tc.sizes)
				}
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("epoch %d: index %d seen %d times", e, i, c)
					}
				}
				want := tc.n
				if tc.dropLast {
					want = tc.n / tc.batch * tc.batch
				}
				if len(seen) != want {
					t.Fatalf("epoch %d covers %d distinct indices, want %d", e, len(seen), want)
				}
			}
		})
	}
}

func TestBatcherOrders(t *testing.T) {
	a := mustBatcher(t, 100, 10, 7, false)
	same := mustBatcher(t, 100, 10, 7, false)
	other := mustBatcher(t, 100, 10, 8, false)
	if !slices.Equal(a.Perm(0), same.Perm(0)) || !slices.Equal(a.Perm(5), same.Perm(5)) {
		t.Fatal("same seed gave different orders")
	}
	if slices.Equal(a.Perm(0), a.Perm(1)) {
		t.Fatal("epochs 0 and 1 have the same order")
	}
	if slices.Equal(a.Perm(0), other.Perm(0)) {
		t.Fatal("seeds 7 and 8 have the same order")
	}
	if slices.Equal(a.Perm(0), slices.Sorted(slices.Values(a.Perm(0)))) {
		t.Fatal("permutation is the identity")
	}
	// Batch size and dropLast do not change the permutation.
	if !slices.Equal(a.Perm(3), mustBatcher(t, 100, 32, 7, true).Perm(3)) {
		t.Fatal("permutation depends on the batch size")
	}
}

// TestBatcherGolden pins the permutation so that a change of algorithm (or
// of the Go library underneath) that would break resuming old runs is
// noticed.
func TestBatcherGolden(t *testing.T) {
	b := mustBatcher(t, 12, 4, 2024, false)
	got := [][]int{b.Perm(0), b.Perm(1)}
	want := [][]int{
		{9, 8, 2, 6, 7, 10, 11, 5, 1, 3, 0, 4},
		{0, 1, 2, 11, 6, 5, 8, 7, 3, 10, 9, 4},
	}
	for e := range got {
		if !slices.Equal(got[e], want[e]) {
			t.Errorf("Perm(%d) = %#v, want %#v", e, got[e], want[e])
		}
	}
}

func TestBatcherUniform(t *testing.T) {
	// Every value lands in the first slot about equally often.
	b := mustBatcher(t, 5, 5, 99, false)
	const epochs = 10000
	var counts [5]int
	for e := range epochs {
		counts[b.Perm(e)[0]]++
	}
	for v, c := range counts {
		if c < epochs/5-300 || c > epochs/5+300 {
			t.Errorf("value %d first in %d of %d epochs, want about %d", v, c, epochs, epochs/5)
		}
	}
}

func TestBatcherResume(t *testing.T) {
	for _, dropLast := range []bool{false, true} {
		b := mustBatcher(t, 23, 5, 3, dropLast)
		spe := b.StepsPerEpoch()
		// The uninterrupted run: 3 epochs from the start.
		var all [][]int
		var pos []Position
		for p, idx := range b.From(Position{}) {
			if len(all) == 3*spe {
				break
			}
			all = append(all, idx)
			pos = append(pos, p)
		}
		for e := range 3 {
			if !slices.EqualFunc(all[e*spe:(e+1)*spe], b.Epoch(e), slices.Equal) {
				t.Fatalf("From disagrees with Epoch(%d)", e)
			}
		}
		for g := range all {
			if pos[g] != b.PositionAt(g) || b.GlobalStep(pos[g]) != g {
				t.Fatalf("position %v of global step %d: PositionAt %v GlobalStep %d", pos[g], g, b.PositionAt(g), b.GlobalStep(pos[g]))
			}
			if !slices.Equal(b.Indices(pos[g]), all[g]) {
				t.Fatalf("Indices(%v) differs", pos[g])
			}
			if g+1 < len(pos) && b.Next(pos[g]) != pos[g+1] {
				t.Fatalf("Next(%v) = %v, want %v", pos[g], b.Next(pos[g]), pos[g+1])
			}
		}
		// Resuming at any position yields exactly the remaining batches.
		for g := range all {
			start := b.PositionAt(g)
			k := g
			for p, idx := range b.From(start) {
				if k == len(all) {
					break
				}
				if p != pos[k] || !slices.Equal(idx, all[k]) {
					t.Fatalf("dropLast=%v resume at %v: step %d gave %v %v, want %v %v", dropLast, start, k, p, idx, pos[k], all[k])
				}
				k++
			}
		}
		// An oversized step is carried into the epoch.
		for p := range b.From(Position{Epoch: 0, Step: spe + 1}) {
			if p != (Position{1, 1}) {
				t.Fatalf("carried start %v, want {1 1}", p)
			}
			break
		}
	}
}

func TestBatcherDegenerate(t *testing.T) {
	b := mustBatcher(t, 3, 8, 1, true) // no batches at all
	for range b.From(Position{}) {
		t.Fatal("From yielded a batch for an epoch without batches")
	}
	ok := mustBatcher(t, 10, 2, 1, false)
	for range ok.From(Position{Epoch: -1}) {
		t.Fatal("From yielded for a negative start")
	}
	if ok.Indices(Position{Step: 5}) != nil || ok.Indices(Position{Step: -1}) != nil {
		t.Fatal("Indices accepted an out of range step")
	}
	if ok.PositionAt(-4) != (Position{}) || b.PositionAt(7) != (Position{}) {
		t.Fatal("PositionAt of a degenerate input")
	}
}
