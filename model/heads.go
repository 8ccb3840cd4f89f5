package model

import (
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// MLP is a stack of fc → BN → ReLU layers as SimSiam's heads use them.
type MLP struct {
	FCs []*tfgraph.Dense
	BNs []*tfgraph.BatchNorm // BNs[i] nil: no BN after FCs[i]
	// Relu[i] says whether ReLU follows layer i.
	Relu []bool
}

// NewProjector builds the projection MLP under s (normally "projector"):
// layers fc→BN→ReLU, ..., fc→BN, all fc without bias, the last BN without
// learnable scale and offset. layers is 2 or 3.
func NewProjector(s *tfgraph.Scope, in, hidden, out int64, layers int, bn BNOpts, seed int64) (*MLP, error) {
	if layers < 2 || layers > 3 {
		return nil, fmt.Errorf("projector: %d layers, want 2 or 3", layers)
	}
	m := &MLP{}
	for i := 1; i <= layers; i++ {
		o := hidden
		last := i == layers
		if last {
			o = out
		}
		m.FCs = append(m.FCs, tfgraph.NewDense(s.Child(fmt.Sprintf("fc%d", i)), in, o, false, seed))
		m.BNs = append(m.BNs, bn.new(s.Child(fmt.Sprintf("bn%d", i)), o, !last, nil))
		m.Relu = append(m.Relu, !last)
		in = o
	}
	return m, nil
}

// NewPredictor builds the bottleneck prediction MLP under s (normally
// "predictor"): fc(dim→hidden, no bias) → BN → ReLU → fc(hidden→dim, bias).
func NewPredictor(s *tfgraph.Scope, dim, hidden int64, bn BNOpts, seed int64) *MLP {
	return &MLP{
		FCs: []*tfgraph.Dense{
			tfgraph.NewDense(s.Child("fc1"), dim, hidden, false, seed),
			tfgraph.NewDense(s.Child("fc2"), hidden, dim, true, seed),
		},
		BNs:  []*tfgraph.BatchNorm{bn.new(s.Child("bn1"), hidden, true, nil), nil},
		Relu: []bool{true, false},
	}
}

// Apply runs the MLP on [N, in] inputs.
func (m *MLP) Apply(s *tfgraph.Scope, x Output, mode tfgraph.Mode) Output {
	for i, fc := range m.FCs {
		x = fc.Apply(s.Child(fmt.Sprintf("fc%d", i+1)), x)
		if m.BNs[i] != nil {
			x = m.BNs[i].Apply(s.Child(fmt.Sprintf("bn%d", i+1)), x, mode)
		}
		if m.Relu[i] {
			x = s.Relu(x)
		}
	}
	return x
}
