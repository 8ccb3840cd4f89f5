// Package arch is the one list of backbone architectures and stems: the
// values configs accepts for model.arch and model.stem. model's registry
// holds one constructor per name listed here; model's tests check that the
// registry and this list name the same architectures, and model.NewBackbone
// reports a listed name that has no constructor.
//
// The list is a package of its own, with no imports, because of the import
// direction: model imports configs (its constructors take configs.Model), so
// configs cannot import model to validate against the registry. Both import
// this leaf instead, and no registration at init time is needed.
package arch

// Names lists the backbone architectures, in the order the documentation
// gives them.
func Names() []string { return []string{"resnet10", "resnet18", "resnet34", "resnet50", "resnet101"} }

// Stems lists the backbone stems: cifar (3x3 stride-1 convolution, no
// pooling) and imagenet (7x7 stride-2 convolution and 3x3 stride-2 max
// pooling).
func Stems() []string { return []string{Cifar, ImageNet} }

// The stems.
const (
	Cifar    = "cifar"
	ImageNet = "imagenet"
)
