package model

import "github.com/simsiam-go/simsiam/tfgraph"

// newResNet18 is torchvision's resnet18 without its classifier: basic
// blocks [2, 2, 2, 2], 8·width features (512 at width 64).
func newResNet18(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	return newResNet(s, c, resNetLayout{blocks: [4]int{2, 2, 2, 2}})
}
