package train

import (
	"path"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Optimizer builds the update of the trainable variables from their
// gradients and per-variable learning rates (tfgraph.Momentum, tfgraph.LARS).
type Optimizer interface {
	Apply(s *tfgraph.Scope, vars []*tfgraph.Variable, grads []Output, lr func(*tfgraph.Variable) Output) *tfgraph.Operation
}

// newOptimizer is optim.name's optimiser: momentum SGD, or LARS with
// biases and BatchNorm parameters excluded.
func newOptimizer(o configs.Optim) Optimizer {
	if o.Name == "lars" {
		return &tfgraph.LARS{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), Eta: float32(o.LARSEta), Exclude: larsExcluded}
	}
	return &tfgraph.Momentum{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay)}
}

// larsExcluded reports the variables LARS leaves to plain momentum SGD
// without weight decay, as SimCLR does: biases and BatchNorm's gamma and
// beta (".../bias", ".../gamma", ".../beta").
func larsExcluded(key string) bool {
	switch path.Base(key) {
	case "bias", "gamma", "beta":
		return true
	}
	return false
}
