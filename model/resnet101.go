package model

import "github.com/simsiam-go/simsiam/tfgraph"

// newResNet101 is torchvision's resnet101 without its classifier:
// bottleneck blocks [3, 4, 23, 3], 32·width features (2048 at width 64).
func newResNet101(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	return newResNet(s, c, resNetLayout{blocks: [4]int{3, 4, 23, 3}, bottleneck: true})
}
