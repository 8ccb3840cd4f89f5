package data

import (
	"fmt"
	"strings"
)

// Images is an in-memory set of uint8 images in NHWC order. Pix may also
// alias memory owned by someone else (for example a memory-mapped file);
// nothing in this package writes to Pix after a reader returns.
type Images struct {
	// N is the number of images; H, W and C are the height, width and
	// number of channels of every image.
	N, H, W, C int
	// Pix holds N*H*W*C bytes. Image i starts at Pix[i*H*W*C] and is stored
	// row-major with interleaved channels (HWC).
	Pix []byte
	// Labels holds one class index per image, in 0..NumClasses-1, or is nil
	// for unlabeled sets.
	Labels []int32
	// NumClasses is the number of classes of a labelled set (0 when Labels
	// is nil).
	NumClasses int
	// ClassNames optionally names each class; when non-nil its length is
	// NumClasses and ClassNames[l] names label l.
	ClassNames []string
	// Source names the file(s) the set was read from, for messages.
	Source string
}

// ImageSize returns the number of bytes of one image, H*W*C.
func (s *Images) ImageSize() int { return s.H * s.W * s.C }

// Image returns image i as a sub-slice of Pix (no copy) of length
// ImageSize(), in HWC order. An i outside 0..N-1 is an error.
func (s *Images) Image(i int) ([]byte, error) {
	if err := s.checkIndex(i); err != nil {
		return nil, err
	}
	sz := s.ImageSize()
	return s.Pix[i*sz : (i+1)*sz : (i+1)*sz], nil
}

// Label returns the label of image i, or -1 for an unlabeled set. An i
// outside 0..N-1 is an error.
func (s *Images) Label(i int) (int, error) {
	if err := s.checkIndex(i); err != nil {
		return 0, err
	}
	if s.Labels == nil {
		return -1, nil
	}
	return int(s.Labels[i]), nil
}

// checkIndex reports an image index outside 0..N-1.
func (s *Images) checkIndex(i int) error {
	if i < 0 || i >= s.N {
		return fmt.Errorf("data: image index %d out of range [0,%d) of %s", i, s.N, s.Source)
	}
	return nil
}

// Batch copies the images idx[0], idx[1], ... into dst in NHWC order and
// returns dst[:len(idx)*ImageSize()]. dst is reallocated only when its
// capacity is too small, so passing the previous result back reuses it. An
// index outside 0..N-1 is an error (dst's contents are then unspecified).
func (s *Images) Batch(idx []int, dst []byte) ([]byte, error) {
	sz := s.ImageSize()
	need := len(idx) * sz
	if cap(dst) < need {
		dst = make([]byte, need)
	}
	dst = dst[:need]
	for k, i := range idx {
		if err := s.checkIndex(i); err != nil {
			return nil, err
		}
		copy(dst[k*sz:(k+1)*sz], s.Pix[i*sz:(i+1)*sz])
	}
	return dst, nil
}

// BatchLabels copies the labels of idx into dst (grown when needed) and
// returns dst[:len(idx)]. It returns nil for an unlabeled set. An index
// outside 0..N-1 is an error.
func (s *Images) BatchLabels(idx []int, dst []int32) ([]int32, error) {
	if s.Labels == nil {
		return nil, nil
	}
	if cap(dst) < len(idx) {
		dst = make([]int32, len(idx))
	}
	dst = dst[:len(idx)]
	for k, i := range idx {
		if err := s.checkIndex(i); err != nil {
			return nil, err
		}
		dst[k] = s.Labels[i]
	}
	return dst, nil
}

// Subset returns a view of the first n images (clamped to 0..N) that shares
// Pix and Labels with s; nothing is copied. The returned slices have their
// capacity capped so that appending to them cannot overwrite s.
func (s *Images) Subset(n int) *Images {
	n = max(0, min(n, s.N))
	sz := s.ImageSize()
	out := *s
	out.N = n
	out.Pix = s.Pix[: n*sz : n*sz]
	if s.Labels != nil {
		out.Labels = s.Labels[:n:n]
	}
	return &out
}

// ToRGB returns a 3-channel version of s. When C is already 3 it returns s
// itself. When C is 1 (grey) or 2 (grey plus alpha) the grey channel is
// repeated three times; when C is larger than 3 the first three channels are
// kept. Those cases allocate one new uint8 buffer; labels and class names are
// shared with s.
func (s *Images) ToRGB() *Images {
	if s.C == 3 {
		return s
	}
	out := *s
	out.C = 3
	out.Pix = make([]byte, s.N*s.H*s.W*3)
	px := s.N * s.H * s.W
	src, dst := s.Pix, out.Pix
	switch {
	case s.C == 1:
		for i := 0; i < px; i++ {
			v := src[i]
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	case s.C == 2:
		for i := 0; i < px; i++ {
			v := src[2*i]
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	case s.C > 3:
		for i := 0; i < px; i++ {
			copy(dst[3*i:3*i+3], src[s.C*i:s.C*i+3])
		}
	}
	return &out
}

// Validate checks that the fields of s are consistent: positive shape,
// len(Pix) == N*H*W*C, one label per image with every label in
// 0..NumClasses-1, and len(ClassNames) == NumClasses when names are present.
func (s *Images) Validate() error {
	if s.N < 0 || s.H <= 0 || s.W <= 0 || s.C <= 0 {
		return fmt.Errorf("data: %s: invalid shape N=%d H=%d W=%d C=%d", s.Source, s.N, s.H, s.W, s.C)
	}
	if want := s.N * s.ImageSize(); len(s.Pix) != want {
		return fmt.Errorf("data: %s: len(Pix) = %d, expected N*H*W*C = %d", s.Source, len(s.Pix), want)
	}
	if s.Labels != nil {
		if len(s.Labels) != s.N {
			return fmt.Errorf("data: %s: %d labels for %d images", s.Source, len(s.Labels), s.N)
		}
		for i, l := range s.Labels {
			if l < 0 || int(l) >= s.NumClasses {
				return fmt.Errorf("data: %s: label %d of image %d outside 0..%d", s.Source, l, i, s.NumClasses-1)
			}
		}
	}
	if s.ClassNames != nil && len(s.ClassNames) != s.NumClasses {
		return fmt.Errorf("data: %s: %d class names for %d classes", s.Source, len(s.ClassNames), s.NumClasses)
	}
	return nil
}

// String summarises the set, e.g. "5000 images 96x96x3, 10 classes, from dir/train_X.bin".
func (s *Images) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d images %dx%dx%d", s.N, s.H, s.W, s.C)
	if s.Labels != nil {
		fmt.Fprintf(&b, ", %d classes", s.NumClasses)
	} else {
		b.WriteString(", unlabeled")
	}
	if s.Source != "" {
		fmt.Fprintf(&b, ", from %s", s.Source)
	}
	return b.String()
}

// planesToHWC converts one image stored as C consecutive row-major planes of
// h*w bytes (CHW) into interleaved HWC order. dst and src must hold at least
// h*w*c bytes.
func planesToHWC(dst, src []byte, h, w, c int) {
	hw := h * w
	src = src[:hw*c]
	dst = dst[:hw*c]
	if c == 3 {
		r, g, b := src[:hw], src[hw:2*hw], src[2*hw:3*hw]
		for i := 0; i < hw; i++ {
			d := dst[3*i : 3*i+3 : 3*i+3]
			d[0], d[1], d[2] = r[i], g[i], b[i]
		}
		return
	}
	for ch := 0; ch < c; ch++ {
		plane := src[ch*hw : (ch+1)*hw]
		for i, v := range plane {
			dst[i*c+ch] = v
		}
	}
}

// readClassNames reads one class name per non-empty line of path. It
// returns nil when the file is missing, unreadable or does not hold exactly
// want names: class names are optional metadata.
func readClassNames(path string, want int) []string {
	b, err := readSmallFile(path, 1<<20)
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			names = append(names, line)
		}
	}
	if len(names) != want {
		return nil
	}
	return names
}

// WithChannels returns the set with c channels: itself when it has c
// already, grey images repeated to RGB when c is 3 (a uint8 copy); colour
// images cannot become grey here.
func (s *Images) WithChannels(c int) (*Images, error) {
	switch {
	case s.C == c:
		return s, nil
	case s.C == 1 && c == 3:
		return s.ToRGB(), nil
	}
	return nil, fmt.Errorf("%s has %d channels but the network wants %d (data.channels)", s.Source, s.C, c)
}
