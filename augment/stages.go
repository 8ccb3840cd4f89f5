package augment

import (
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// stage is one step of a view (see stages).
type stage struct {
	// name names the stage in errors and tests.
	name string
	// key is the configuration key of the stage's probability; empty for a
	// stage that always runs.
	key string
	// prob reads that key; nil for a stage that always runs. A stage whose
	// probability is 0 is skipped and adds no ops.
	prob func(configs.Augment) float64
	// seed derives the stage's seed from its view's (see seedID); noSeed
	// for a deterministic stage.
	seed seedID
	// apply builds the stage on the view, given its seed (the zero Output
	// for noSeed) and its probability (1 for a stage that always runs).
	apply func(v *viewState, seed Output, p float64)
}

// stages is the pipeline of a view, in order: each stage reads and updates
// the view's state (crop boxes until "resize", then the pixels). The seed
// rows are fixed once given (they decide every run's draws): a new stage
// takes the next free row, 6.
func stages() []stage {
	return []stage{
		{name: "crop", seed: seedID{row: 0}, apply: cropStage},
		{name: "flip", key: "augment.flip_prob", prob: func(a configs.Augment) float64 { return a.FlipProb }, seed: seedID{row: 4}, apply: flipStage},
		{name: "resize", seed: noSeed, apply: resizeStage},
		{name: "jitter", key: "augment.jitter_prob", prob: func(a configs.Augment) float64 { return a.JitterProb }, seed: seedID{row: 1}, apply: jitterStage},
		{name: "grey", key: "augment.grayscale_prob", prob: func(a configs.Augment) float64 { return a.GrayscaleProb }, seed: seedID{row: 2}, apply: greyStage},
		{name: "blur", key: "augment.blur_prob", prob: func(a configs.Augment) float64 { return a.BlurProb }, seed: seedID{row: 3}, apply: blurStage},
		{name: "solarize", key: "augment.solarize_prob", prob: func(a configs.Augment) float64 { return a.SolarizeProb }, seed: seedID{row: 5}, apply: solarizeStage},
		{name: "normalize", seed: noSeed, apply: normalizeStage},
		{name: "erase", key: "augment.erase_prob", prob: func(a configs.Augment) float64 { return a.EraseProb }, seed: seedID{shift: eraseSeedShift, row: rowDirect}, apply: eraseStage},
	}
}

// viewState is what the stages of one view share.
type viewState struct {
	s *tfgraph.Scope
	a configs.Augment
	d configs.Data
	// n is the int32 batch size.
	n Output
	// images is the input batch, float32 with pixel values 0..255.
	images Output
	// boxes are the crop boxes, float32 [N, 4] (y1, x1, y2, x2), set by
	// "crop" and used by "resize".
	boxes Output
	// x is the view, float32 [N, d.ImageSize, d.ImageSize, d.Channels],
	// set by "resize": values in [0, 1] until "normalize".
	x Output
}

// seedRows is the size of the draw the stages' seeds are rows of: one more
// than the largest row of the table.
func seedRows(table []stage) int {
	rows := 0
	for _, st := range table {
		rows = max(rows, st.seed.row+1)
	}
	return rows
}

// runStages builds the stages of table on a view with the given seed and
// returns the view.
func runStages(table []stage, v *viewState, seed Output) Output {
	sd := newSeeder(v.s, seed, seedRows(table))
	for _, st := range table {
		p := 1.0
		if st.prob != nil {
			p = st.prob(v.a)
		}
		if p <= 0 {
			continue
		}
		st.apply(v, sd.seed(st.seed), p)
	}
	return v.x
}
