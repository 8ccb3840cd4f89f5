package data

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// CIFAR geometry: 32x32 RGB images stored as three row-major planes.
const (
	cifarSide       = 32
	cifarImageBytes = 3 * cifarSide * cifarSide // 3072
)

// cifarFormat describes one CIFAR binary record layout.
type cifarFormat struct {
	name       string   // data set name for messages
	labelNames []string // what each leading label byte is
	classes    []int    // number of classes of each label byte
	use        int      // which label byte becomes Labels
}

var (
	cifar10Format        = cifarFormat{"CIFAR-10", []string{"label"}, []int{10}, 0}
	cifar100CoarseFormat = cifarFormat{"CIFAR-100", []string{"coarse label", "fine label"}, []int{20, 100}, 0}
	cifar100FineFormat   = cifarFormat{"CIFAR-100", []string{"coarse label", "fine label"}, []int{20, 100}, 1}
)

func (f cifarFormat) recordSize() int { return len(f.classes) + cifarImageBytes }

func (f cifarFormat) what() string {
	return fmt.Sprintf("%s record = %d label byte(s) + 3072 pixel bytes", f.name, len(f.classes))
}

// count validates a file size and returns the number of records in it.
func (f cifarFormat) count(name string, size int64) (int, error) {
	return recordCount(name, size, f.recordSize(), f.what())
}

// decode streams n records from r, writing HWC pixels to pix[:n*3072] and
// the selected label to labels[:n]. Every label byte is range-checked.
func (f cifarFormat) decode(r io.Reader, n int, pix []byte, labels []int32, name string) error {
	nl := len(f.classes)
	pix = pix[:n*cifarImageBytes]
	labels = labels[:n]
	return readRecords(r, n, f.recordSize(), name, func(i int, rec []byte) error {
		for k := 0; k < nl; k++ {
			if int(rec[k]) >= f.classes[k] {
				return formatErr(name, i, "%s %d out of range, expected 0..%d", f.labelNames[k], rec[k], f.classes[k]-1)
			}
		}
		labels[i] = int32(rec[f.use])
		planesToHWC(pix[i*cifarImageBytes:(i+1)*cifarImageBytes], rec[nl:], cifarSide, cifarSide, 3)
		return nil
	})
}

// read reads the given files in order into one labelled set.
func (f cifarFormat) read(paths []string, classNamesPath string) (*Images, error) {
	type sized struct {
		r    io.ReadCloser
		n    int
		path string
	}
	files := make([]sized, 0, len(paths))
	defer func() {
		for _, s := range files {
			s.r.Close()
		}
	}()
	total := 0
	for _, p := range paths {
		file, size, err := openSized(p)
		if err != nil {
			if _, ok := err.(*FormatError); ok {
				return nil, err
			}
			return nil, fmt.Errorf("data: %s: %w", f.name, err)
		}
		files = append(files, sized{file, 0, p})
		n, err := f.count(p, size)
		if err != nil {
			return nil, err
		}
		if total > math.MaxInt/f.recordSize()-n {
			return nil, fmt.Errorf("data: %s: too many records for this platform", f.name)
		}
		files[len(files)-1].n = n
		total += n
	}
	nc := f.classes[f.use]
	s := &Images{
		N: total, H: cifarSide, W: cifarSide, C: 3,
		Pix:        make([]byte, total*cifarImageBytes),
		Labels:     make([]int32, total),
		NumClasses: nc,
		Source:     strings.Join(paths, ", "),
	}
	off := 0
	for _, file := range files {
		if err := f.decode(file.r, file.n, s.Pix[off*cifarImageBytes:], s.Labels[off:], file.path); err != nil {
			return nil, err
		}
		off += file.n
	}
	s.ClassNames = readClassNames(classNamesPath, nc)
	return s, nil
}

// decodeBytes decodes one in-memory CIFAR file.
func (f cifarFormat) decodeBytes(b []byte, name string) (*Images, error) {
	n, err := f.count(name, int64(len(b)))
	if err != nil {
		return nil, err
	}
	s := &Images{
		N: n, H: cifarSide, W: cifarSide, C: 3,
		Pix:        make([]byte, n*cifarImageBytes),
		Labels:     make([]int32, n),
		NumClasses: f.classes[f.use],
		Source:     name,
	}
	if err := f.decode(bytes.NewReader(b), n, s.Pix, s.Labels, name); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadCIFAR10 reads the CIFAR-10 binary distribution (cifar-10-batches-bin/)
// in dir: data_batch_1.bin .. data_batch_5.bin in that order when train is
// true, test_batch.bin otherwise. Each record is one label byte (0..9)
// followed by 3072 pixel bytes: the 32x32 R plane, then G, then B, each
// row-major. The result is 32x32x3 HWC with NumClasses 10. Every file must
// be a non-zero exact multiple of 3073 bytes (normally 10000 records). When
// batches.meta.txt is present and names 10 classes it fills ClassNames.
func ReadCIFAR10(dir string, train bool) (*Images, error) {
	var paths []string
	if train {
		for i := 1; i <= 5; i++ {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)))
		}
	} else {
		paths = []string{filepath.Join(dir, "test_batch.bin")}
	}
	return cifar10Format.read(paths, filepath.Join(dir, "batches.meta.txt"))
}

// ReadCIFAR100 reads the CIFAR-100 binary distribution (cifar-100-binary/)
// in dir: train.bin when train is true, test.bin otherwise. Each record is a
// coarse label byte (0..19), a fine label byte (0..99) and 3072 pixel bytes
// laid out as in CIFAR-10. Both label bytes are range-checked; Labels holds
// the fine labels (NumClasses 100) when fine is true and the coarse labels
// (NumClasses 20) otherwise. When fine_label_names.txt or
// coarse_label_names.txt is present with the right number of names it fills
// ClassNames.
func ReadCIFAR100(dir string, train bool, fine bool) (*Images, error) {
	name := "test.bin"
	if train {
		name = "train.bin"
	}
	f, names := cifar100CoarseFormat, "coarse_label_names.txt"
	if fine {
		f, names = cifar100FineFormat, "fine_label_names.txt"
	}
	return f.read([]string{filepath.Join(dir, name)}, filepath.Join(dir, names))
}

// DecodeCIFAR10 decodes one CIFAR-10 binary batch held in memory (the
// contents of e.g. data_batch_1.bin). name is used in error messages.
func DecodeCIFAR10(b []byte, name string) (*Images, error) {
	return cifar10Format.decodeBytes(b, name)
}

// DecodeCIFAR100 decodes a CIFAR-100 binary file held in memory (the
// contents of train.bin or test.bin), keeping fine or coarse labels as in
// [ReadCIFAR100]. name is used in error messages.
func DecodeCIFAR100(b []byte, name string, fine bool) (*Images, error) {
	if fine {
		return cifar100FineFormat.decodeBytes(b, name)
	}
	return cifar100CoarseFormat.decodeBytes(b, name)
}
