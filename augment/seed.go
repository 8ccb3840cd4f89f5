package augment

import (
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// seedID names a seed derived from a parent seed (an int64 [2] tensor).
// Every seed of the pipeline is derived this one way, twice: a view's seed
// from the batch's (viewSeedID), a stage's from its view's (stage.seed):
//
//	key  = parent + [0, shift]
//	seed = row `row` of one StatelessRandomUniformFullInt draw of int64
//	       pairs keyed by key (the draw's size does not change its rows:
//	       Philox is counter based, so row i is the same for every size > i)
//	seed = key itself when row is rowDirect
//
// The values reproduce, bit for bit, the seeds used before the stage table:
// views and stages took rows of a split of the unshifted parent, local views
// rows of a split of the batch seed shifted by localSeedShift, and random
// erasing keyed its draws with its view's seed shifted by eraseSeedShift
// (rowDirect, kept only for that). A new stage takes the next free row with
// shift 0 (see stages).
type seedID struct {
	shift int64
	row   int
}

// rowDirect is the row of a seed that is the shifted parent itself, with no
// draw.
const rowDirect = -1

// rowNone marks a stage that draws nothing (it gets no seed).
const rowNone = -2

// noSeed is the seed id of a deterministic stage.
var noSeed = seedID{row: rowNone}

// localSeedShift separates the local views' seeds from the two full-size
// views' (an arbitrary constant).
const localSeedShift = 0x10ca1

// eraseSeedShift separates the erasing draws from a view's other stages
// (an arbitrary constant).
const eraseSeedShift = 0xe2a5e

// viewSeedID is the seed id of a view: full-size view i (0 or 1) of Views,
// or local view i (from 0) of LocalViews.
func viewSeedID(local bool, i int) seedID {
	if local {
		return seedID{shift: localSeedShift, row: i}
	}
	return seedID{row: i}
}

// seeder derives the seeds of a parent seed, with one draw of rows pairs
// per distinct shift.
type seeder struct {
	s      *tfgraph.Scope
	parent Output
	rows   int
	draws  map[int64]Output
}

// newSeeder derives seeds from parent; rows is the size of each draw, more
// than the largest row asked for.
func newSeeder(s *tfgraph.Scope, parent Output, rows int) *seeder {
	return &seeder{s: s, parent: parent, rows: rows, draws: map[int64]Output{}}
}

// seed is the seed id names (see seedID); the zero Output for noSeed.
func (sd *seeder) seed(id seedID) Output {
	s := sd.s
	switch {
	case id.row == rowNone:
		return Output{}
	case id.row < rowDirect || id.row >= sd.rows:
		s.Fail(fmt.Errorf("augment: seed row %d outside the draw of %d", id.row, sd.rows))
		return Output{}
	}
	key := sd.parent
	if id.shift != 0 {
		key = s.Add(key, s.Const(fmt.Sprintf("seed_shift_%x", id.shift), []int64{0, id.shift}))
	}
	if id.row == rowDirect {
		return key
	}
	all, ok := sd.draws[id.shift]
	if !ok {
		name := "seeds"
		if id.shift != 0 {
			name = fmt.Sprintf("seeds_%x", id.shift)
		}
		all = s.Child(name).StatelessUniformFullInt("", tfgraph.Int64, s.Const("shape", []int32{int32(sd.rows), 2}), key)
		sd.draws[id.shift] = all
	}
	return s.Reshape(s.Slice(all, []int32{int32(id.row), 0}, []int32{1, 2}), 2)
}

// StepSeed is the seed pair for (run seed, global step): a [2]int64 Go value
// the trainer feeds. Both entries are SplitMix64 hashes, so nearby run seeds
// and steps give unrelated streams, and distinct steps of one run always give
// distinct pairs.
func StepSeed(runSeed, step int64) []int64 {
	a := splitMix64(uint64(runSeed))
	b := splitMix64(a ^ splitMix64(uint64(step)))
	return []int64{int64(a), int64(b)}
}

// splitMix64 is the finaliser of the SplitMix64 generator (a bijection).
func splitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
