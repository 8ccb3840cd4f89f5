package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/data/format"
)

// Open reads split of the data set stored in dir in the format name, one of
// format.Names (stl10, cifar10, cifar100, idx or folder). size is the side
// images are resized to for folders; limit > 0 keeps only the first limit
// images.
func Open(name, dir, split string, size, limit int) (*Images, error) {
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
