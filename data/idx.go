package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), then the
// number of dimensions.
const (
	idxMagicImages = 0x00000803
	idxMagicLabels = 0x00000801
	// maxIDXBytes bounds the data size a header may announce; larger
	// headers are refused before anything is allocated.
	maxIDXBytes = int64(1) << 34
	// idxGrowStart is the first allocation when the data size cannot be
	// checked against the file size (gzip input); the buffer then doubles
	// as data actually arrives.
	idxGrowStart = 1 << 22
)

// IDXClasses is the number of classes an IDX label file may hold: labels
// are 0..IDXClasses-1, as in every MNIST-style set ReadIDXDir finds under
// the MNIST file names (MNIST, Fashion-MNIST, KMNIST, QMNIST). A label
// beyond it is a corrupt file, refused like an out-of-range CIFAR label
// rather than taken as a class of its own.
const IDXClasses = 10

// ReadIDX reads an IDX image file (MNIST, Fashion-MNIST, ...) and, unless
// labelsPath is "", the matching IDX label file. Each file may be raw or
// gzip-compressed; gzip is recognised by its magic bytes 0x1f 0x8b, not by
// the file name.
//
// The image file starts with the big-endian magic 0x00000803 and three
// int32 dimensions N, rows, cols, followed by exactly N*rows*cols pixel
// bytes; the label file starts with 0x00000801 and one dimension N, followed
// by N label bytes. Dimensions must be positive, announce at most 2^34
// bytes, and match the data length exactly (truncation and trailing bytes
// are both errors). Labels must be below IDXClasses (a *FormatError naming
// the label file, the record and the value otherwise). The result has C =
// 1, and for a labelled set NumClasses = max label + 1.
func ReadIDX(imagesPath, labelsPath string) (*Images, error) {
	dims, pix, err := readIDXFile(imagesPath, idxMagicImages)
	if err != nil {
		return nil, err
	}
	var labels []byte
	if labelsPath != "" {
		if _, labels, err = readIDXFile(labelsPath, idxMagicLabels); err != nil {
			return nil, err
		}
	}
	return buildIDX(dims, pix, labels, imagesPath, labelsPath)
}

// DecodeIDX decodes IDX data from readers, as [ReadIDX] does from files.
// labels may be nil for an unlabeled set. The names are used in error
// messages. Because the input size is not known in advance the pixel buffer
// grows as data arrives, so a lying header cannot force a large allocation.
func DecodeIDX(images, labels io.Reader, imagesName, labelsName string) (*Images, error) {
	dims, pix, err := decodeIDX(images, -1, imagesName, idxMagicImages)
	if err != nil {
		return nil, err
	}
	var lab []byte
	if labels != nil {
		if _, lab, err = decodeIDX(labels, -1, labelsName, idxMagicLabels); err != nil {
			return nil, err
		}
	} else {
		labelsName = ""
	}
	return buildIDX(dims, pix, lab, imagesName, labelsName)
}

// ReadIDXDir reads the MNIST-style training (train is true) or test split
// from dir. It looks for train-images-idx3-ubyte and
// train-labels-idx1-ubyte (or t10k-... for the test split), each optionally
// with a .gz suffix or with a '.' instead of the '-' before "idx"; the first
// existing name wins. Both files are required.
func ReadIDXDir(dir string, train bool) (*Images, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	img, err := findIDX(dir, prefix+"-images", "idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lab, err := findIDX(dir, prefix+"-labels", "idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return ReadIDX(img, lab)
}

// findIDX returns the first existing file among the usual spellings.
func findIDX(dir, stem, kind string) (string, error) {
	var tried []string
	for _, sep := range []string{"-", "."} {
		for _, ext := range []string{"", ".gz"} {
			p := filepath.Join(dir, stem+sep+kind+ext)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
			tried = append(tried, filepath.Base(p))
		}
	}
	return "", fmt.Errorf("data: no IDX file %s-%s in %s (tried %v)", stem, kind, dir, tried)
}

// buildIDX assembles an Images from decoded IDX contents.
func buildIDX(dims []int, pix, labels []byte, imagesName, labelsName string) (*Images, error) {
	s := &Images{N: dims[0], H: dims[1], W: dims[2], C: 1, Pix: pix, Source: imagesName}
	if labels == nil {
		return s, nil
	}
	if len(labels) != s.N {
		return nil, formatErr(labelsName, -1, "holds %d labels, expected %d to match the images in %s", len(labels), s.N, imagesName)
	}
	s.Labels = make([]int32, len(labels))
	maxLabel := 0
	for i, v := range labels {
		if int(v) >= IDXClasses {
			return nil, formatErr(labelsName, i, "label %d out of range, expected 0..%d", v, IDXClasses-1)
		}
		s.Labels[i] = int32(v)
		maxLabel = max(maxLabel, int(v))
	}
	s.NumClasses = maxLabel + 1
	s.Source += ", " + labelsName
	return s, nil
}

// readIDXFile opens path and decodes it, using the file size to check the
// header before allocating when the file is not compressed.
func readIDXFile(path string, magic uint32) ([]int, []byte, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return decodeIDX(f, size, path, magic)
}

// decodeIDX parses one IDX file with the given magic from r. size is the
// byte length of r when known, or -1. It returns the dimensions and the
// data bytes.
func decodeIDX(r io.Reader, size int64, name string, magic uint32) ([]int, []byte, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, ioErr(name, fmt.Errorf("reading gzip header: %w", err))
		}
		defer zr.Close()
		src = zr
		size = -1 // the decompressed size is unknown
	}

	what := "images, expected 0x00000803"
	if magic == idxMagicLabels {
		what = "labels, expected 0x00000801"
	}
	ndims := int(magic & 0xff)
	hdr := make([]byte, 4+4*ndims)
	// Read the magic number on its own first so that a file of the wrong
	// kind is reported as such even when it is shorter than our header.
	for _, part := range [][2]int{{0, 4}, {4, len(hdr)}} {
		if got, err := io.ReadFull(src, hdr[part[0]:part[1]]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, nil, formatErr(name, -1, "too short for an IDX header: expected %d bytes, got %d", len(hdr), part[0]+got)
			}
			return nil, nil, ioErr(name, err)
		}
		if m := binary.BigEndian.Uint32(hdr); part[0] == 0 && m != magic {
			return nil, nil, formatErr(name, -1, "bad IDX magic number 0x%08x (IDX %s)", m, what)
		}
	}
	dims := make([]int, ndims)
	total := int64(1)
	for i := range dims {
		d := int64(int32(binary.BigEndian.Uint32(hdr[4+4*i:])))
		if d <= 0 {
			return nil, nil, formatErr(name, -1, "IDX dimension %d is %d, expected a positive size", i, d)
		}
		if d > maxIDXBytes/total {
			return nil, nil, formatErr(name, -1, "IDX header dimensions %v describe more than %d data bytes; refusing",
				headerDims(hdr, ndims), maxIDXBytes)
		}
		total *= d
		dims[i] = int(d)
	}
	if total > math.MaxInt {
		return nil, nil, formatErr(name, -1, "IDX data of %d bytes does not fit in memory on this platform", total)
	}
	if size >= 0 {
		// Uncompressed: the header must account for the file exactly.
		want := int64(len(hdr)) + total
		switch {
		case size < want:
			return nil, nil, formatErr(name, -1, "truncated: header %v needs %d data bytes, file has %d",
				dims, total, size-int64(len(hdr)))
		case size > want:
			return nil, nil, formatErr(name, -1, "%d trailing bytes after the %d data bytes described by header %v",
				size-want, total, dims)
		}
	}
	data, err := readExact(src, total, name, dims)
	if err != nil {
		return nil, nil, err
	}
	return dims, data, nil
}

// headerDims decodes the raw dimensions for a message (they may not fit in
// the checked range).
func headerDims(hdr []byte, ndims int) []int64 {
	d := make([]int64, ndims)
	for i := range d {
		d[i] = int64(int32(binary.BigEndian.Uint32(hdr[4+4*i:])))
	}
	return d
}

// readExact reads exactly total bytes from r and then requires end of
// input. The buffer starts small and doubles as bytes arrive, so a header
// announcing more data than exists costs at most twice the real data.
func readExact(r io.Reader, total int64, name string, dims []int) ([]byte, error) {
	buf := make([]byte, 0, min(total, idxGrowStart))
	stalls := 0
	for int64(len(buf)) < total {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(2*int64(cap(buf)), total))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) < total {
				return nil, formatErr(name, -1, "truncated: header %v needs %d data bytes, got %d", dims, total, len(buf))
			}
			return buf, nil
		}
		if err != nil {
			return nil, ioErr(name, err)
		}
		if n == 0 {
			if stalls++; stalls > 100 {
				return nil, ioErr(name, io.ErrNoProgress)
			}
		} else {
			stalls = 0
		}
	}
	// Anything after the data is an error; reading to the end also makes
	// gzip verify its checksum.
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		extra, _ := io.Copy(io.Discard, io.LimitReader(r, 1<<24))
		return nil, formatErr(name, -1, "%d or more trailing bytes after the %d data bytes described by header %v", extra+1, total, dims)
	}
	if err != nil && err != io.EOF {
		return nil, ioErr(name, fmt.Errorf("after the %d data bytes: %w", total, err))
	}
	return buf, nil
}
