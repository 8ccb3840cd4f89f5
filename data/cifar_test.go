package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifar10Dir writes five training batches of 2 records each (labels 0..9
// over the set, pattern index = global record index) and a test batch of 3
// records (labels 9, 0, 5; pattern base 500).
func cifar10Dir(t *testing.T) string {
	dir := t.TempDir()
	for b := 0; b < 5; b++ {
		labels := [][]byte{{byte(2 * b)}, {byte(2*b + 1)}}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", b+1)), encodeCIFAR(labels, 2*b))
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), encodeCIFAR([][]byte{{9}, {0}, {5}}, 500))
	return dir
}

func TestReadCIFAR10(t *testing.T) {
	dir := cifar10Dir(t)
	tests := []struct {
		train  bool
		labels []int32
		base   int
	}{
		{true, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0},
		{false, []int32{9, 0, 5}, 500},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("train=", tc.train), func(t *testing.T) {
			s, err := ReadCIFAR10(dir, tc.train)
			if err != nil {
				t.Fatal(err)
			}
			if s.N != len(tc.labels) || s.H != 32 || s.W != 32 || s.C != 3 || s.NumClasses != 10 {
				t.Fatalf("got %v, want %d images 32x32x3 with 10 classes", s, len(tc.labels))
			}
			if !slices.Equal(s.Labels, tc.labels) {
				t.Errorf("labels %v, want %v", s.Labels, tc.labels)
			}
			checkPattern(t, s, 0, s.N, tc.base)
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
			if tc.train && !strings.Contains(s.Source, "data_batch_5.bin") {
				t.Errorf("Source %q does not list the batches", s.Source)
			}
		})
	}
}

// TestCIFARLayout pins the record layout with hand-computed offsets.
func TestCIFARLayout(t *testing.T) {
	rec := make([]byte, 1+3072)
	rec[0] = 3
	rec[1+0*1024+2*32+5] = 11 // R at row 2, col 5
	rec[1+1*1024+0*32+1] = 22 // G at row 0, col 1
	rec[1+2*1024+31*32+0] = 33
	s, err := DecodeCIFAR10(rec, "mem")
	if err != nil {
		t.Fatal(err)
	}
	im := imageAt(t, s, 0)
	px := func(row, col, c int) byte { return im[(row*32+col)*3+c] }
	if px(2, 5, 0) != 11 || px(0, 1, 1) != 22 || px(31, 0, 2) != 33 || s.Labels[0] != 3 {
		t.Fatalf("got %d %d %d label %d", px(2, 5, 0), px(0, 1, 1), px(31, 0, 2), s.Labels[0])
	}
}

func TestReadCIFAR100(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train.bin"), encodeCIFAR([][]byte{{19, 99}, {0, 0}, {7, 42}}, 0))
	writeFile(t, filepath.Join(dir, "test.bin"), encodeCIFAR([][]byte{{3, 14}}, 9))
	fine := make([]string, 100)
	for i := range fine {
		fine[i] = fmt.Sprint("f", i)
	}
	writeFile(t, filepath.Join(dir, "fine_label_names.txt"), []byte(strings.Join(fine, "\n")+"\n"))
	tests := []struct {
		train, fine bool
		classes     int
		labels      []int32
		base        int
		names       bool
	}{
		{true, true, 100, []int32{99, 0, 42}, 0, true},
		{true, false, 20, []int32{19, 0, 7}, 0, false},
		{false, true, 100, []int32{14}, 9, true},
		{false, false, 20, []int32{3}, 9, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("train=%v,fine=%v", tc.train, tc.fine), func(t *testing.T) {
			s, err := ReadCIFAR100(dir, tc.train, tc.fine)
			if err != nil {
				t.Fatal(err)
			}
			if s.NumClasses != tc.classes || !slices.Equal(s.Labels, tc.labels) {
				t.Fatalf("NumClasses %d labels %v, want %d %v", s.NumClasses, s.Labels, tc.classes, tc.labels)
			}
			checkPattern(t, s, 0, s.N, tc.base)
			if (s.ClassNames != nil) != tc.names {
				t.Errorf("ClassNames %v, want present=%v", s.ClassNames, tc.names)
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestReadCIFARErrors(t *testing.T) {
	good10 := encodeCIFAR([][]byte{{1}, {2}}, 0)
	good100 := encodeCIFAR([][]byte{{1, 2}, {3, 4}}, 0)
	tests := []struct {
		name   string
		file   string // file to write (relative); "" writes nothing extra
		data   []byte
		remove string
		read   func(dir string) (*Images, error)
		format bool
		want   []string
	}{
		{"missing batch", "", nil, "data_batch_3.bin", func(d string) (*Images, error) { return ReadCIFAR10(d, true) }, false, []string{"data_batch_3.bin"}},
		{"missing test", "", nil, "test_batch.bin", func(d string) (*Images, error) { return ReadCIFAR10(d, false) }, false, []string{"test_batch.bin"}},
		{"empty batch", "data_batch_2.bin", []byte{}, "", func(d string) (*Images, error) { return ReadCIFAR10(d, true) }, true, []string{"data_batch_2.bin", "empty", "3073"}},
		{"truncated record", "data_batch_4.bin", good10[:3073+3000], "", func(d string) (*Images, error) { return ReadCIFAR10(d, true) }, true, []string{"data_batch_4.bin", "not a multiple of 3073", "1 whole records and 3000 extra bytes"}},
		{"label 10", "test_batch.bin", append(append([]byte{}, good10...), encodeCIFAR([][]byte{{10}}, 0)...), "", func(d string) (*Images, error) { return ReadCIFAR10(d, false) }, true, []string{"test_batch.bin", "record 2", "label 10", "0..9"}},
		{"cifar100 missing", "", nil, "", func(d string) (*Images, error) { return ReadCIFAR100(d, true, true) }, false, []string{"train.bin"}},
		{"cifar100 empty", "test.bin", []byte{}, "", func(d string) (*Images, error) { return ReadCIFAR100(d, false, true) }, true, []string{"test.bin", "empty", "3074"}},
		{"cifar100 truncated", "train.bin", good100[:3074+1], "", func(d string) (*Images, error) { return ReadCIFAR100(d, true, false) }, true, []string{"train.bin", "not a multiple of 3074"}},
		{"cifar100 coarse 20", "train.bin", encodeCIFAR([][]byte{{1, 2}, {20, 4}}, 0), "", func(d string) (*Images, error) { return ReadCIFAR100(d, true, true) }, true, []string{"train.bin", "record 1", "coarse label 20", "0..19"}},
		{"cifar100 fine 100", "train.bin", encodeCIFAR([][]byte{{1, 100}}, 0), "", func(d string) (*Images, error) { return ReadCIFAR100(d, true, false) }, true, []string{"train.bin", "record 0", "fine label 100", "0..99"}},
		{"cifar10 file read as cifar100", "train.bin", good10, "", func(d string) (*Images, error) { return ReadCIFAR100(d, true, true) }, true, []string{"train.bin", "not a multiple of 3074"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := cifar10Dir(t)
			if tc.file != "" {
				writeFile(t, filepath.Join(dir, tc.file), tc.data)
			}
			if tc.remove != "" {
				if err := os.Remove(filepath.Join(dir, tc.remove)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := tc.read(dir)
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

func TestDecodeCIFARBytes(t *testing.T) {
	s, err := DecodeCIFAR100(encodeCIFAR([][]byte{{5, 55}, {6, 66}}, 3), "mem100", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Labels, []int32{5, 6}) || s.NumClasses != 20 {
		t.Fatalf("labels %v classes %d", s.Labels, s.NumClasses)
	}
	checkPattern(t, s, 0, 2, 3)
	_, err = DecodeCIFAR10(nil, "nothing.bin")
	wantFormatErr(t, err, "nothing.bin", "empty")
}
