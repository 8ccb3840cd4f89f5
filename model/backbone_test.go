package model

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/model/arch"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestRegistryMatchesArchList checks that the registry has one constructor
// for every architecture package arch lists (the list configs validates
// model.arch against), and none besides.
func TestRegistryMatchesArchList(t *testing.T) {
	registered := slices.Sorted(maps.Keys(backbones))
	listed := slices.Sorted(slices.Values(arch.Names()))
	if !slices.Equal(registered, listed) {
		t.Fatalf("registry %v, package arch %v", registered, listed)
	}
	for _, name := range arch.Names() {
		for _, stem := range arch.Stems() {
			_, bb := buildBackbone(t, name, stem, 4, 3)
			if bb.FeatureDim() <= 0 || bb.MACs(32) <= 0 {
				t.Errorf("%s/%s: FeatureDim %d, MACs %d", name, stem, bb.FeatureDim(), bb.MACs(32))
			}
		}
	}
}

func TestNewBackboneErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*BackboneConfig)
		want   string
	}{
		{"arch", func(c *BackboneConfig) { c.Model.Arch = "vgg16" }, `unknown backbone "vgg16" (want one of ` + strings.Join(arch.Names(), ", ") + ")"},
		{"stem", func(c *BackboneConfig) { c.Model.Stem = "tiny" }, `backbone resnet18: unknown stem "tiny" (want one of cifar, imagenet)`},
		{"width", func(c *BackboneConfig) { c.Model.Width = 0 }, "width 0"},
		{"channels", func(c *BackboneConfig) { c.InChannels = 0 }, "0 input channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := BackboneConfig{Model: configs.Default().Model, InChannels: 3}
			c.Model.Arch, c.Model.Width = "resnet18", 4
			tc.mutate(&c)
			bb, err := NewBackbone(tfgraph.NewGraph().Root().Child(EncoderScope), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if bb != nil {
				t.Errorf("a backbone %v with the error", bb)
			}
		})
	}
}

// TestNewUsesTheRegistry builds the whole network for every listed
// architecture and checks the heads are sized from the backbone's features.
func TestNewUsesTheRegistry(t *testing.T) {
	for _, name := range arch.Names() {
		m := configs.Default().Model
		m.Arch, m.Stem, m.Width, m.ProjHidden, m.ProjDim, m.PredHidden = name, "cifar", 4, 16, 8, 4
		g := tfgraph.NewGraph()
		net, err := New(g, m, 1, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := net.Backbone.FeatureDim()
		if k := g.Variable("projector/fc1/kernel"); k == nil || !slices.Equal(k.Dims, []int64{d, 16}) {
			t.Errorf("%s: projector/fc1/kernel %v, want [%d 16]", name, k, d)
		}
		if g.Variable("encoder/conv1/kernel") == nil {
			t.Errorf("%s: no encoder/conv1/kernel", name)
		}
	}
}
