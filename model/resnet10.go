package model

import "github.com/simsiam-go/simsiam/tfgraph"

// newResNet10 is the shallowest basic-block ResNet: one block per stage
// ([1, 1, 1, 1]) in torchvision's layout, 8·width features (512 at width
// 64), about half of resnet18's multiply-accumulates. torchvision has no
// resnet10; the layout is resnet18's with every stage's second block left
// out.
func newResNet10(s *tfgraph.Scope, c BackboneConfig) (Backbone, error) {
	return newResNet(s, c, resNetLayout{blocks: [4]int{1, 1, 1, 1}})
}
