package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/model/arch"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// EncoderScope is the variable scope New builds the backbone in: every
// SimSiam checkpoint holds the backbone's variables under "encoder/".
const EncoderScope = "encoder"

// Backbone is the feature extractor of the encoder f: images in, one pooled
// feature vector per image out. Train, eval and export build it only through
// NewBackbone and use it only through this interface.
type Backbone interface {
	// Apply maps float32 NHWC images to features [N, FeatureDim()], with
	// its ops in s. Training mode normalises with batch statistics and
	// updates the BatchNorm moving averages; Inference uses the moving
	// statistics and has no side effects.
	Apply(s *tfgraph.Scope, images Output, mode tfgraph.Mode) Output
	// FeatureDim is the length of the feature vector.
	FeatureDim() int64
	// VarPrefix starts the key of every variable of the backbone and ends
	// in "/" ("encoder/"). A checkpoint holds this backbone when its keys
	// under VarPrefix are exactly the backbone's variables, with their
	// shapes; a deeper network of the same family shares the shallower
	// one's keys and adds others.
	VarPrefix() string
	// MACs counts the multiply-accumulates of the backbone's convolutions
	// and matrix products for one imageSize × imageSize image (the usual
	// FLOP count is twice that).
	MACs(imageSize int64) int64
}

// BackboneConfig is what every backbone constructor takes.
type BackboneConfig struct {
	// Model supplies arch, stem, width, zero_init_residual, bn_eps and
	// bn_momentum; the head sizes are not used.
	Model configs.Model
	// InChannels is the channel count of the images.
	InChannels int64
	// Seed is the run seed every initial value is derived from.
	Seed int64
}

// bn is the BatchNorm setting of every layer of the backbone.
func (c BackboneConfig) bn() BNOpts {
	return BNOpts{Eps: float32(c.Model.BNEps), Momentum: float32(c.Model.BNMomentum)}
}

// newBackbone creates the variables of one architecture under s.
type newBackbone func(s *tfgraph.Scope, c BackboneConfig) (Backbone, error)

// backbones is the registry of architectures: one line per architecture,
// whose constructor lives in a file of its own (resnet18.go, ...). The names
// are those of package arch, the list configs validates model.arch against;
// TestRegistryMatchesArchList checks that both name the same architectures.
var backbones = map[string]newBackbone{
	"resnet10":  newResNet10,
	"resnet18":  newResNet18,
	"resnet34":  newResNet34,
	"resnet50":  newResNet50,
	"resnet101": newResNet101,
}

// NewBackbone creates the backbone c.Model.Arch names, with its variables
// under s (New uses EncoderScope) and initial values drawn from c.Seed.
func NewBackbone(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	name := c.Model.Arch
	build, ok := backbones[name]
	switch {
	case !ok && slices.Contains(arch.Names(), name):
		return nil, fmt.Errorf("backbone %q is listed in package arch but model has no constructor for it", name)
	case !ok:
		return nil, fmt.Errorf("unknown backbone %q (want one of %s)", name, strings.Join(arch.Names(), ", "))
	}
	b, err := build(s, c)
	if err != nil {
		return nil, fmt.Errorf("backbone %s: %w", name, err)
	}
	return b, nil
}
