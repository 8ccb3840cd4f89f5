// Package format is the one list of on-disk data set layouts: the formats
// data.Open reads and the splits each of them has. configs validates
// data.format, eval.format and the splits against it; data.Open switches on
// the same constants, and data's tests check that Open accepts exactly the
// splits listed here.
//
// It is a package of its own, with no imports, because of the layering:
// configs sits below data's callers and imports nothing of the project, and
// data (readers, decoders, prefetching) is no dependency configs should
// carry. A leaf both of them import keeps a single list without either
// depending on the other.
package format

// The formats.
const (
	STL10    = "stl10"    // STL-10 binary version (stl10_binary/)
	CIFAR10  = "cifar10"  // CIFAR-10 binary version
	CIFAR100 = "cifar100" // CIFAR-100 binary version
	IDX      = "idx"      // MNIST-style idx files, optionally gzipped
	Folder   = "folder"   // one sub-directory of images per class
)

// Names lists every format, in the order the documentation gives them.
func Names() []string { return []string{STL10, CIFAR10, CIFAR100, IDX, Folder} }

// PretrainSplits are the splits of format name that pretraining may read.
// fixed is false when any split is allowed (folder: the split names a
// sub-directory) or the format is unknown.
func PretrainSplits(name string) (splits []string, fixed bool) {
	switch name {
	case STL10:
		return []string{"unlabeled", "train", "test", "train+unlabeled"}, true
	case CIFAR10, CIFAR100, IDX:
		return []string{"train", "test"}, true
	}
	return nil, false
}

// LabelledSplits are the splits of format name that carry labels, for the
// kNN monitor and the linear evaluation; fixed as in PretrainSplits.
func LabelledSplits(name string) (splits []string, fixed bool) {
	switch name {
	case STL10, CIFAR10, CIFAR100, IDX:
		return []string{"train", "test"}, true
	}
	return nil, false
}
