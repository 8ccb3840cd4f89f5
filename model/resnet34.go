package model

import "github.com/simsiam-go/simsiam/tfgraph"

// newResNet34 is torchvision's resnet34 without its classifier: basic
// blocks [3, 4, 6, 3], 8·width features (512 at width 64).
func newResNet34(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	return newResNet(s, c, resNetLayout{blocks: [4]int{3, 4, 6, 3}})
}
