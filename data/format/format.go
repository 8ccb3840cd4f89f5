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
	TFRecord = "tfrecord" // TFRecord files of tf.train.Example (PNG or JPEG images)
	TFDS     = "tfds"     // a data set prepared by TensorFlow Datasets
)

// Names lists every format, in the order the documentation gives them.
func Names() []string { return []string{STL10, CIFAR10, CIFAR100, IDX, Folder, TFRecord, TFDS} }

// PretrainSplits are the splits of format name that pretraining may read.
// fixed is false when any split is allowed (folder: the split names a
// sub-directory; tfrecord: ignored; tfds: the data set's own splits, joined
// with "+") or the format is unknown.
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

// IsTFDSName reports whether s has the form of a TensorFlow Datasets name
// as tfds.load spells it: name, name:version, name/config or
// name/config:version (e.g. "stl10", "stl10:1.0.0"), where name is
// lower-case letters, digits and underscores and version is dot-separated
// numbers. data.Open resolves such a name under TFDS_DATA_DIR or
// ~/tensorflow_datasets when no folder of that name exists.
func IsTFDSName(s string) bool {
	name, version, hasVersion := cut(s, ':')
	if hasVersion && !isVersion(version) {
		return false
	}
	name, config, hasConfig := cut(name, '/')
	if hasConfig && !isConfigName(config) {
		return false
	}
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// cut splits s at the first sep.
func cut(s string, sep rune) (before, after string, found bool) {
	for i, r := range s {
		if r == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// isVersion reports whether v is dot-separated decimal numbers.
func isVersion(v string) bool {
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' && digits > 0:
			digits = 0
		default:
			return false
		}
	}
	return digits > 0
}

// isConfigName reports whether c is a TFDS builder config name.
func isConfigName(c string) bool {
	if c == "" || c[0] == '.' {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
