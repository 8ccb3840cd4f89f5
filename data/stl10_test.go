package data

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// stlDir writes a small STL-10 directory: 3 train images (labels on disk
// 1, 10, 5), 2 test images (labels 2, 3) and 4 unlabeled images. Train
// images use pattern indices 0.., test 50.., unlabeled 100...
func stlDir(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train_X.bin"), encodeSTL10(3, 0))
	writeFile(t, filepath.Join(dir, "train_y.bin"), []byte{1, 10, 5})
	writeFile(t, filepath.Join(dir, "test_X.bin"), encodeSTL10(2, 50))
	writeFile(t, filepath.Join(dir, "test_y.bin"), []byte{2, 3})
	writeFile(t, filepath.Join(dir, "unlabeled_X.bin"), encodeSTL10(4, 100))
	return dir
}

func TestReadSTL10(t *testing.T) {
	dir := stlDir(t)
	tests := []struct {
		split  string
		n      int
		labels []int32
		// runs of (count, pattern base) in output order
		runs [][2]int
	}{
		{"train", 3, []int32{0, 9, 4}, [][2]int{{3, 0}}},
		{"test", 2, []int32{1, 2}, [][2]int{{2, 50}}},
		{"unlabeled", 4, nil, [][2]int{{4, 100}}},
		{"train+unlabeled", 7, nil, [][2]int{{3, 0}, {4, 100}}},
	}
	for _, tc := range tests {
		t.Run(tc.split, func(t *testing.T) {
			s, err := ReadSTL10(dir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			if s.N != tc.n || s.H != 96 || s.W != 96 || s.C != 3 {
				t.Fatalf("shape N=%d %dx%dx%d, want N=%d 96x96x3", s.N, s.H, s.W, s.C, tc.n)
			}
			if !slices.Equal(s.Labels, tc.labels) {
				t.Errorf("labels %v, want %v", s.Labels, tc.labels)
			}
			wantClasses := 0
			if tc.labels != nil {
				wantClasses = 10
			}
			if s.NumClasses != wantClasses {
				t.Errorf("NumClasses %d, want %d", s.NumClasses, wantClasses)
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
			at := 0
			for _, r := range tc.runs {
				checkPattern(t, s, at, r[0], r[1])
				at += r[0]
			}
		})
	}
}

// TestSTL10Layout pins the disk layout with hand-computed offsets rather
// than the shared encoder: byte c*9216 + col*96 + row is pixel (row, col, c).
func TestSTL10Layout(t *testing.T) {
	raw := make([]byte, stl10ImageBytes)
	raw[0*9216+5*96+2] = 11 // R at row 2, col 5
	raw[1*9216+0*96+1] = 22 // G at row 1, col 0
	raw[2*9216+95*96+0] = 33
	s, err := DecodeSTL10(raw, nil, "mem", "")
	if err != nil {
		t.Fatal(err)
	}
	im := imageAt(t, s, 0)
	px := func(row, col, c int) byte { return im[(row*96+col)*3+c] }
	if px(2, 5, 0) != 11 || px(1, 0, 1) != 22 || px(0, 95, 2) != 33 {
		t.Fatalf("got %d %d %d, want 11 22 33", px(2, 5, 0), px(1, 0, 1), px(0, 95, 2))
	}
	if px(5, 2, 0) != 0 {
		t.Fatal("image came out transposed")
	}
}

func TestDecodeSTL10(t *testing.T) {
	s, err := DecodeSTL10(encodeSTL10(2, 7), []byte{10, 1}, "x.bin", "y.bin")
	if err != nil {
		t.Fatal(err)
	}
	checkPattern(t, s, 0, 2, 7)
	if !slices.Equal(s.Labels, []int32{9, 0}) {
		t.Fatalf("labels %v", s.Labels)
	}
	_, err = DecodeSTL10(encodeSTL10(2, 7), []byte{10}, "x.bin", "y.bin")
	wantFormatErr(t, err, "y.bin", "1 labels", "expected 2")
}

func TestSTL10ClassNames(t *testing.T) {
	dir := stlDir(t)
	names := "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n"
	writeFile(t, filepath.Join(dir, "class_names.txt"), []byte(names))
	s, err := ReadSTL10(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ClassNames) != 10 || s.ClassNames[9] != "truck" {
		t.Fatalf("ClassNames %q", s.ClassNames)
	}
}

func TestReadSTL10Errors(t *testing.T) {
	tests := []struct {
		name   string
		split  string
		mutate func(t *testing.T, dir string)
		format bool // want *FormatError
		want   []string
	}{
		{"unknown split", "val", nil, false, []string{`"val"`, "train+unlabeled"}},
		{"missing images", "train", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "train_X.bin")) }, false, []string{"train_X.bin"}},
		{"missing labels", "test", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "test_y.bin")) }, false, []string{"test_y.bin"}},
		{"missing unlabeled in combined", "train+unlabeled", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "unlabeled_X.bin")) }, false, []string{"unlabeled_X.bin"}},
		{"empty images", "unlabeled", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "unlabeled_X.bin"), nil) }, true, []string{"unlabeled_X.bin", "empty", "27648"}},
		{"truncated images", "train", func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "train_X.bin"), encodeSTL10(3, 0)[:2*stl10ImageBytes+100])
		}, true, []string{"train_X.bin", "not a multiple of 27648", "2 whole records and 100 extra bytes"}},
		{"too few labels", "train", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "train_y.bin"), []byte{1, 2}) }, true, []string{"train_y.bin", "2 labels", "expected 3", "train_X.bin"}},
		{"too many labels", "train", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "train_y.bin"), []byte{1, 2, 3, 4}) }, true, []string{"train_y.bin", "expected at most 3"}},
		{"label 0", "train", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "train_y.bin"), []byte{1, 0, 3}) }, true, []string{"train_y.bin", "record 1", "label byte 0", "1..10"}},
		{"label 11", "test", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "test_y.bin"), []byte{1, 11}) }, true, []string{"test_y.bin", "record 1", "label byte 11"}},
		{"directory instead of file", "unlabeled", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "unlabeled_X.bin"))
			os.Mkdir(filepath.Join(d, "unlabeled_X.bin"), 0o755)
		}, true, []string{"unlabeled_X.bin", "not a regular file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := stlDir(t)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			s, err := ReadSTL10(dir, tc.split)
			if s != nil {
				t.Errorf("got images %v with error", s)
			}
			if tc.format {
				wantFormatErr(t, err, tc.want...)
			} else {
				wantErr(t, err, tc.want...)
			}
		})
	}
}

func TestSTL10TruncatedStream(t *testing.T) {
	// A reader that ends early (file shrank after Stat) is reported, not
	// silently zero-filled.
	dst := make([]byte, 2*stl10ImageBytes)
	err := decodeSTL10Images(bytesReader(encodeSTL10(1, 0)), 2, dst, "shrunk.bin")
	wantFormatErr(t, err, "shrunk.bin", "record 1", "truncated")
	var fe *FormatError
	if errors.As(err, &fe) && fe.Record != 1 {
		t.Errorf("Record = %d, want 1", fe.Record)
	}
}
