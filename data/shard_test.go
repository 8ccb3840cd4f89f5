package data

import (
	"context"
	"slices"
	"sort"
	"testing"
)

func TestShard(t *testing.T) {
	for _, tc := range []struct {
		batch         []int
		shard, shards int
		want          []int
	}{
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, 0, 2, []int{0, 2, 4, 6}},
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, 1, 2, []int{1, 3, 5, 7}},
		{[]int{9, 8, 7, 6, 5, 4, 3}, 2, 3, []int{7, 4}},
		{[]int{5}, 1, 2, []int{}},
	} {
		if got := Shard(tc.batch, tc.shard, tc.shards); !slices.Equal(got, tc.want) {
			t.Errorf("Shard(%v, %d, %d) = %v, want %v", tc.batch, tc.shard, tc.shards, got, tc.want)
		}
	}
}

// TestPrefetchShards: three shards of the same schedule hold disjoint
// parts of every batch whose union is the batch, and their images are
// those of their indices.
func TestPrefetchShards(t *testing.T) {
	s := seqImages(40, 4, 3, 3, true)
	b := mustBatcher(t, s.N, 12, 5, true)
	const shards, steps = 3, 7
	got := make([][][]int, shards)
	for sh := range shards {
		p, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{Start: Position{Epoch: 1, Step: 1}, Steps: steps, Shard: sh, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		for k := range steps {
			bt, err := p.Next()
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Batch(bt.Idx, nil)
			if err != nil || !slices.Equal(bt.Pix, want) || len(bt.Idx) != 4 {
				t.Fatalf("shard %d step %d: %d indices, pixels match %v (%v)", sh, k, len(bt.Idx), slices.Equal(bt.Pix, want), err)
			}
			got[sh] = append(got[sh], slices.Clone(bt.Idx))
		}
		p.Close()
	}
	k := 0
	for _, batch := range b.From(Position{Epoch: 1, Step: 1}) {
		if k == steps {
			break
		}
		var union []int
		for sh := range shards {
			union = append(union, got[sh][k]...)
		}
		sort.Ints(union)
		want := slices.Clone(batch)
		sort.Ints(want)
		if !slices.Equal(union, want) {
			t.Errorf("step %d: shards hold %v, the batch is %v", k, union, want)
		}
		k++
	}
	if _, err := NewPrefetcher(context.Background(), s, b, PrefetchOptions{Shard: 3, Shards: 3}); err == nil {
		t.Error("shard 3 of 3 accepted")
	}
}
