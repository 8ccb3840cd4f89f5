package model

import "github.com/simsiam-go/simsiam/tfgraph"

// newResNet50 is torchvision's resnet50 without its classifier: bottleneck
// blocks [3, 4, 6, 3], 32·width features (2048 at width 64).
func newResNet50(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	return newResNet(s, c, resNetLayout{blocks: [4]int{3, 4, 6, 3}, bottleneck: true})
}
