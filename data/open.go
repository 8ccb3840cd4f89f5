package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/data/format"
)

// Open reads split of the data set stored in dir in the format name, one of
// format.Names (stl10, cifar10, cifar100, idx, folder, tfrecord or tfds).
// size is the side images are resized to for folders; limit > 0 keeps only
// the first limit images. TFRecord and TFDS sets use the default feature
// names ("image", "label") and the images' own channels; see [OpenWith].
func Open(name, dir, split string, size, limit int) (*Images, error) {
	return OpenWith(name, dir, split, Options{Size: size, Limit: limit})
}

// Options are the settings of [OpenWith] beyond format, folder and split.
type Options struct {
	// Size is the side images are resized and centre-cropped to for
	// folders and for TFDS image features of variable shape.
	Size int
	// Limit > 0 keeps only the first Limit images.
	Limit int
	// Channels (1 or 3) is the number of channels tfrecord and tfds images
	// are decoded to; 0 keeps the images' own. The other formats keep
	// theirs (see [Images.WithChannels]).
	Channels int
	// ImageFeature and LabelFeature name the tf.train.Example features of
	// tfrecord and tfds sets; "" means "image" and "label".
	ImageFeature, LabelFeature string
}

// OpenWith is [Open] with every option.
func OpenWith(name, dir, split string, opt Options) (*Images, error) {
	size, limit := opt.Size, opt.Limit
	image, label := opt.ImageFeature, opt.LabelFeature
	if image == "" {
		image = "image"
	}
	if label == "" {
		label = "label"
	}
	var (
		s   *Images
		err error
	)
	train := split == "train"
	switch name {
	case format.STL10:
		s, err = ReadSTL10(dir, split)
	case format.CIFAR10, format.CIFAR100:
		if split != "train" && split != "test" {
			return nil, fmt.Errorf("%s: split %q, want train or test", name, split)
		}
		if name == format.CIFAR10 {
			s, err = ReadCIFAR10(dir, train)
		} else {
			s, err = ReadCIFAR100(dir, train, true)
		}
	case format.IDX:
		if split != "train" && split != "test" {
			return nil, fmt.Errorf("idx: split %q, want train or test", split)
		}
		s, err = ReadIDXDir(dir, train)
	case format.Folder:
		root := dir
		if split != "" {
			if sub := filepath.Join(dir, split); isDir(sub) {
				root = sub
			}
		}
		s, err = ReadFolder(root, size, true)
	case format.TFRecord:
		s, err = ReadTFRecord(dir, split, image, label, opt.Channels)
	case format.TFDS:
		s, err = ReadTFDS(dir, split, image, label, opt.Channels, size)
	default:
		return nil, fmt.Errorf("unknown data format %q (want one of %s)", name, strings.Join(format.Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if s.N == 0 {
		return nil, fmt.Errorf("%s: no images in split %q", s.Source, split)
	}
	if limit > 0 && limit < s.N {
		s = s.Subset(limit)
	}
	return s, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
