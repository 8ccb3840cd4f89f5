package data

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// STL-10 geometry: 96x96 RGB images, 10 classes.
const (
	stl10Side       = 96
	stl10Plane      = stl10Side * stl10Side
	stl10ImageBytes = 3 * stl10Plane // 27648
	stl10Classes    = 10
	stl10What       = "3x96x96 = 27648 bytes per image"
)

// ReadSTL10 reads one split of the STL-10 binary distribution
// (stl10_binary/) in dir. split is one of
//
//   - "train": train_X.bin and train_y.bin (5000 labelled images)
//   - "test": test_X.bin and test_y.bin (8000 labelled images)
//   - "unlabeled": unlabeled_X.bin (100000 images, Labels nil)
//   - "train+unlabeled": train_X.bin followed by unlabeled_X.bin, Labels nil
//     (the usual self-supervised pre-training set)
//
// On disk each image is three 96x96 planes (R, G, B), each plane stored
// column-major; the result is 96x96x3 row-major HWC. Labels on disk are
// bytes 1..10 and are returned as 0..9; any other value is an error naming
// the file and record. Image files must be a non-zero exact multiple of 27648
// bytes and a label file must hold one byte per image.
//
// Images are streamed through a buffer of 64 images and written directly
// into the result, so reading the 2.76 GB unlabeled file needs about 2.76 GB.
// When class_names.txt is present in dir and names 10 classes it fills
// ClassNames.
func ReadSTL10(dir, split string) (*Images, error) {
	var xs []string
	var y string
	switch split {
	case "train":
		xs, y = []string{"train_X.bin"}, "train_y.bin"
	case "test":
		xs, y = []string{"test_X.bin"}, "test_y.bin"
	case "unlabeled":
		xs = []string{"unlabeled_X.bin"}
	case "train+unlabeled":
		xs = []string{"train_X.bin", "unlabeled_X.bin"}
	default:
		return nil, fmt.Errorf("data: STL-10 in %s: unknown split %q, expected train, test, unlabeled or train+unlabeled", dir, split)
	}

	// Open and size every file before allocating anything.
	paths := make([]string, len(xs))
	files := make([]*os.File, 0, len(xs))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	counts := make([]int, len(xs))
	total := 0
	for i, x := range xs {
		paths[i] = filepath.Join(dir, x)
		f, size, err := openSized(paths[i])
		if err != nil {
			return nil, stlWrap(split, err)
		}
		files = append(files, f)
		n, err := recordCount(paths[i], size, stl10ImageBytes, stl10What)
		if err != nil {
			return nil, err
		}
		if total > math.MaxInt/stl10ImageBytes-n {
			return nil, fmt.Errorf("data: STL-10 %s split in %s: too many images for this platform", split, dir)
		}
		counts[i] = n
		total += n
	}

	// Labels are small: read and check them before the expensive pixel pass.
	var labels []int32
	sources := append([]string(nil), paths...)
	if y != "" {
		yPath := filepath.Join(dir, y)
		b, err := readSmallFile(yPath, int64(total))
		if err != nil {
			if fe, ok := err.(*FormatError); ok {
				fe.Msg += fmt.Sprintf(" (one label byte per image of %s)", paths[0])
			}
			return nil, stlWrap(split, err)
		}
		if labels, err = decodeSTL10Labels(b, total, yPath, paths[0]); err != nil {
			return nil, err
		}
		sources = append(sources, yPath)
	}

	pix := make([]byte, total*stl10ImageBytes)
	off := 0
	for i, f := range files {
		if err := decodeSTL10Images(f, counts[i], pix[off:], paths[i]); err != nil {
			return nil, err
		}
		off += counts[i] * stl10ImageBytes
	}
	s := &Images{N: total, H: stl10Side, W: stl10Side, C: 3, Pix: pix, Source: strings.Join(sources, ", ")}
	if labels != nil {
		s.Labels = labels
		s.NumClasses = stl10Classes
		s.ClassNames = readClassNames(filepath.Join(dir, "class_names.txt"), stl10Classes)
	}
	return s, nil
}

func stlWrap(split string, err error) error {
	if _, ok := err.(*FormatError); ok {
		return err
	}
	return fmt.Errorf("data: STL-10 %s split: %w", split, err)
}

// DecodeSTL10 decodes STL-10 data held in memory: images in the format of
// train_X.bin and, unless labels is nil, labels in the format of train_y.bin.
// The names are used in error messages. See [ReadSTL10] for the format.
func DecodeSTL10(images, labels []byte, imagesName, labelsName string) (*Images, error) {
	n, err := recordCount(imagesName, int64(len(images)), stl10ImageBytes, stl10What)
	if err != nil {
		return nil, err
	}
	s := &Images{N: n, H: stl10Side, W: stl10Side, C: 3, Source: imagesName}
	if labels != nil {
		if s.Labels, err = decodeSTL10Labels(labels, n, labelsName, imagesName); err != nil {
			return nil, err
		}
		s.NumClasses = stl10Classes
		s.Source += ", " + labelsName
	}
	s.Pix = make([]byte, n*stl10ImageBytes)
	if err := decodeSTL10Images(bytes.NewReader(images), n, s.Pix, imagesName); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeSTL10Labels checks that b holds n label bytes in 1..10 and returns
// them shifted to 0..9.
func decodeSTL10Labels(b []byte, n int, name, imagesName string) ([]int32, error) {
	if len(b) != n {
		return nil, formatErr(name, -1, "holds %d labels (one byte each), expected %d to match the images in %s", len(b), n, imagesName)
	}
	labels := make([]int32, n)
	for i, v := range b {
		if v < 1 || v > stl10Classes {
			return nil, formatErr(name, i, "label byte %d out of range, expected 1..%d", v, stl10Classes)
		}
		labels[i] = int32(v) - 1
	}
	return labels, nil
}

// decodeSTL10Images reads n on-disk STL-10 images from r and writes them in
// HWC order to dst[:n*27648], using a bounded buffer.
func decodeSTL10Images(r io.Reader, n int, dst []byte, name string) error {
	dst = dst[:n*stl10ImageBytes]
	return readRecords(r, n, stl10ImageBytes, name, func(i int, rec []byte) error {
		stl10ToHWC(dst[i*stl10ImageBytes:(i+1)*stl10ImageBytes], rec)
		return nil
	})
}

// stl10ToHWC converts one STL-10 image from its disk layout (R, G, B planes,
// each column-major: byte c*9216 + col*96 + row is pixel (row, col, c)) to
// row-major HWC. Writing the output sequentially and gathering from the
// three planes is about 2.5x faster than the reverse loop order.
func stl10ToHWC(dst, src []byte) {
	src = src[:stl10ImageBytes]
	dst = dst[:stl10ImageBytes]
	r, g, b := src[:stl10Plane], src[stl10Plane:2*stl10Plane], src[2*stl10Plane:]
	const rowBytes = stl10Side * 3
	for row := 0; row < stl10Side; row++ {
		d := dst[row*rowBytes : (row+1)*rowBytes]
		k := row
		for col := 0; col < stl10Side; col++ {
			d[3*col], d[3*col+1], d[3*col+2] = r[k], g[k], b[k]
			k += stl10Side
		}
	}
}
