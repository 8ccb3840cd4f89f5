package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// seqImages returns n images of h x w x c where every byte of image i is
// derived from (i, offset) so that copies can be checked.
func seqImages(n, h, w, c int, labelled bool) *Images {
	s := &Images{N: n, H: h, W: w, C: c, Pix: make([]byte, n*h*w*c), Source: "seq"}
	for i := range s.Pix {
		s.Pix[i] = byte(i*31 + i/(h*w*c)*7)
	}
	if labelled {
		s.NumClasses = 5
		s.Labels = make([]int32, n)
		for i := range s.Labels {
			s.Labels[i] = int32(i % 5)
		}
	}
	return s
}

func TestImageAndBatch(t *testing.T) {
	s := seqImages(10, 3, 4, 2, true)
	sz := s.ImageSize()
	if sz != 24 {
		t.Fatalf("ImageSize %d", sz)
	}
	if !bytes.Equal(imageAt(t, s, 7), s.Pix[7*sz:8*sz]) || cap(imageAt(t, s, 7)) != sz {
		t.Fatal("Image(7) is not the capped sub-slice")
	}
	idx := []int{9, 0, 9, 4}
	got := batch(t, s, idx, nil)
	if len(got) != len(idx)*sz {
		t.Fatalf("len %d", len(got))
	}
	for k, i := range idx {
		if !bytes.Equal(got[k*sz:(k+1)*sz], imageAt(t, s, i)) {
			t.Fatalf("batch slot %d is not image %d", k, i)
		}
	}
	// Reuse: a large enough dst is not reallocated.
	again := batch(t, s, []int{1, 2}, got)
	if &again[0] != &got[0] || len(again) != 2*sz || !bytes.Equal(again[:sz], imageAt(t, s, 1)) {
		t.Fatal("Batch did not reuse dst")
	}
	// Growth: a small dst is replaced.
	small := make([]byte, 3)
	grown := batch(t, s, idx, small)
	if len(grown) != len(idx)*sz || !bytes.Equal(grown, batch(t, s, idx, nil)) {
		t.Fatal("Batch did not grow dst")
	}
	if l := batchLabels(t, s, idx, nil); !slices.Equal(l, []int32{4, 0, 4, 4}) {
		t.Fatalf("BatchLabels %v", l)
	}
	if label(t, s, 3) != 3 {
		t.Fatalf("Label(3) = %d", label(t, s, 3))
	}
	un := seqImages(2, 1, 1, 1, false)
	if batchLabels(t, un, []int{0}, nil) != nil || label(t, un, 1) != -1 {
		t.Fatal("unlabeled set returned labels")
	}
}

func TestIndexErrors(t *testing.T) {
	s := seqImages(3, 2, 2, 1, true)
	for name, f := range map[string]func() error{
		"Image(-1)":          func() error { _, err := s.Image(-1); return err },
		"Image(3)":           func() error { _, err := s.Image(3); return err },
		"Batch [3]":          func() error { _, err := s.Batch([]int{0, 3}, nil); return err },
		"BatchLabels [0 -1]": func() error { _, err := s.BatchLabels([]int{0, -1}, nil); return err },
		"Label(100)":         func() error { _, err := s.Label(100); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s: %v, want an out of range error", name, err)
		}
	}
}

func TestSubset(t *testing.T) {
	s := seqImages(10, 2, 2, 3, true)
	for _, tc := range []struct{ n, want int }{{4, 4}, {0, 0}, {-3, 0}, {10, 10}, {99, 10}} {
		sub := s.Subset(tc.n)
		if sub.N != tc.want || len(sub.Pix) != tc.want*12 || len(sub.Labels) != tc.want {
			t.Fatalf("Subset(%d): N %d len(Pix) %d len(Labels) %d", tc.n, sub.N, len(sub.Pix), len(sub.Labels))
		}
		if err := sub.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	sub := s.Subset(4)
	if &sub.Pix[0] != &s.Pix[0] || &sub.Labels[0] != &s.Labels[0] {
		t.Fatal("Subset copied data")
	}
	if cap(sub.Pix) != len(sub.Pix) || cap(sub.Labels) != 4 {
		t.Fatal("Subset did not cap capacity")
	}
	before := s.Pix[4*12]
	_ = append(sub.Pix, 99)
	if s.Pix[4*12] != before {
		t.Fatal("appending to a subset overwrote the parent")
	}
	if s.N != 10 {
		t.Fatal("Subset changed the parent")
	}
}

func TestToRGB(t *testing.T) {
	g := seqImages(3, 2, 5, 1, true)
	rgb := g.ToRGB()
	if rgb.C != 3 || rgb.N != 3 || len(rgb.Pix) != 3*2*5*3 || !slices.Equal(rgb.Labels, g.Labels) {
		t.Fatalf("ToRGB: %v", rgb)
	}
	for i, v := range g.Pix {
		if rgb.Pix[3*i] != v || rgb.Pix[3*i+1] != v || rgb.Pix[3*i+2] != v {
			t.Fatalf("pixel %d: %v, want %d x3", i, rgb.Pix[3*i:3*i+3], v)
		}
	}
	if g.C != 1 {
		t.Fatal("ToRGB changed its receiver")
	}
	c3 := seqImages(2, 2, 2, 3, false)
	if c3.ToRGB() != c3 {
		t.Fatal("ToRGB of an RGB set should return it unchanged")
	}
	c4 := seqImages(2, 1, 2, 4, false)
	r4 := c4.ToRGB()
	if !bytes.Equal(r4.Pix[:3], c4.Pix[:3]) || !bytes.Equal(r4.Pix[3:6], c4.Pix[4:7]) {
		t.Fatal("ToRGB of a 4-channel set should keep the first three channels")
	}
	c2 := seqImages(1, 1, 2, 2, false)
	r2 := c2.ToRGB()
	if r2.Pix[3] != c2.Pix[2] || r2.Pix[5] != c2.Pix[2] {
		t.Fatal("ToRGB of grey+alpha should repeat the grey channel")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Images)
		want   string
	}{
		{"ok", func(s *Images) {}, ""},
		{"short Pix", func(s *Images) { s.Pix = s.Pix[:5] }, "len(Pix)"},
		{"label count", func(s *Images) { s.Labels = s.Labels[:1] }, "labels for"},
		{"label range", func(s *Images) { s.Labels[2] = 5 }, "label 5 of image 2"},
		{"negative label", func(s *Images) { s.Labels[0] = -1 }, "label -1"},
		{"class names", func(s *Images) { s.ClassNames = []string{"a"} }, "class names"},
		{"shape", func(s *Images) { s.H = 0 }, "invalid shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := seqImages(3, 2, 2, 1, true)
			tc.mutate(s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.want, "seq")
		})
	}
	if got := seqImages(2, 3, 4, 1, false).String(); got != "2 images 3x4x1, unlabeled, from seq" {
		t.Errorf("String() = %q", got)
	}
}
