package augment

import (
	"fmt"
	"slices"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestStageTable checks the table's invariants: distinct names and seeds,
// every random stage's key is a configuration key that its prob accessor
// reads, and the seed rows of the draw are exactly those in use.
func TestStageTable(t *testing.T) {
	table := stages()
	names := map[string]bool{}
	seeds := map[seedID]string{}
	rows := map[int]bool{}
	for _, st := range table {
		if st.name == "" || names[st.name] {
			t.Errorf("stage name %q empty or repeated", st.name)
		}
		names[st.name] = true
		if st.apply == nil {
			t.Errorf("%s: no apply function", st.name)
		}
		if (st.key == "") != (st.prob == nil) {
			t.Errorf("%s: key %q and prob accessor must be set together", st.name, st.key)
		}
		if st.seed != noSeed {
			if other, ok := seeds[st.seed]; ok {
				t.Errorf("%s and %s share seed %+v", st.name, other, st.seed)
			}
			seeds[st.seed] = st.name
			if st.seed.row >= 0 {
				rows[st.seed.row] = true
			}
		}
		if st.key == "" {
			continue
		}
		t.Run(st.name, func(t *testing.T) {
			const p = 0.37
			cfg, err := configs.Load(configs.LoadOptions{Sets: []string{fmt.Sprintf("%s=%g", st.key, p)}})
			if err != nil {
				t.Fatalf("setting %s: %v", st.key, err)
			}
			if got := st.prob(cfg.Augment); got != p {
				t.Errorf("%s=%g, but the stage's accessor reads %g", st.key, p, got)
			}
		})
	}
	n := seedRows(table)
	for r := 0; r < n; r++ {
		if !rows[r] {
			t.Errorf("seed row %d of %d is unused", r, n)
		}
	}
	// The crop boxes are made and folded (flip) before "resize" cuts them
	// out, and every pixel stage comes after it; erasing comes after
	// "normalize", so that 0 is the data set's mean.
	at := map[string]int{}
	for i, st := range table {
		at[st.name] = i
	}
	for _, c := range []struct{ before, after string }{
		{"crop", "flip"}, {"flip", "resize"}, {"resize", "jitter"}, {"jitter", "grey"},
		{"grey", "blur"}, {"blur", "solarize"}, {"solarize", "normalize"}, {"normalize", "erase"},
	} {
		if at[c.before] >= at[c.after] {
			t.Errorf("stage %s (%d) must come before %s (%d)", c.before, at[c.before], c.after, at[c.after])
		}
	}
	if at["crop"] != 0 {
		t.Errorf("crop is stage %d, want 0 (it makes the boxes)", at["crop"])
	}
}

// TestSeedRowsArePrefixStable: a stage seed's value must not depend on the
// size of the draw it is a row of, or adding a stage (one more row) would
// change every other stage's draws. It also checks the derivation itself:
// distinct ids give distinct seeds, and rowDirect is the shifted parent.
func TestSeedRowsArePrefixStable(t *testing.T) {
	g := tfgraph.NewGraph()
	s := g.Root()
	parent := s.Const("seed", StepSeed(5, 9))
	small, big := newSeeder(s.Child("small"), parent, 6), newSeeder(s.Child("big"), parent, 9)
	ids := []seedID{{row: 0}, {row: 3}, {row: 5}, {shift: 7, row: 2}, {shift: 7, row: rowDirect}}
	var fetches []tfgraph.Output
	for _, id := range ids {
		fetches = append(fetches, small.seed(id), big.seed(id))
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	res := runGraph(t, g, nil, fetches...)
	seen := map[[2]int64]seedID{}
	for i, id := range ids {
		a, err := tfgraph.Value[[]int64](res[2*i])
		if err != nil {
			t.Fatal(err)
		}
		b, err := tfgraph.Value[[]int64](res[2*i+1])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%+v: %v from a draw of 6, %v from a draw of 9", id, a, b)
		}
		key := [2]int64{a[0], a[1]}
		if other, ok := seen[key]; ok {
			t.Errorf("%+v and %+v both give %v", id, other, a)
		}
		seen[key] = id
	}
	p := StepSeed(5, 9)
	direct, _ := tfgraph.Value[[]int64](res[len(res)-1])
	if !slices.Equal(direct, []int64{p[0], p[1] + 7}) {
		t.Errorf("rowDirect with shift 7 gave %v, want %v + [0, 7]", direct, p)
	}
}

// TestSeedRowOutsideTheDrawFailsTheGraph: asking for a row the draw does
// not hold is a graph error, not a silent wrong seed.
func TestSeedRowOutsideTheDrawFailsTheGraph(t *testing.T) {
	for _, row := range []int{6, -3} {
		g := tfgraph.NewGraph()
		s := g.Root()
		if out := newSeeder(s, s.Const("seed", []int64{1, 2}), 6).seed(seedID{row: row}); out.Op != nil {
			t.Errorf("row %d: got an output", row)
		}
		if g.Err() == nil {
			t.Errorf("row %d: no graph error", row)
		}
	}
}
