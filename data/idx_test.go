package data

import (
	"bytes"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestReadIDX(t *testing.T) {
	imgs := encodeIDXImages(4, 5, 7) // rows != cols catches transposes
	labs := encodeIDXLabels(3, 0, 7, 3)
	tests := []struct {
		name       string
		imgName    string
		imgData    []byte
		labName    string // "" for unlabeled
		labData    []byte
		wantLabels []int32
		wantNC     int
	}{
		{"raw", "i-idx3-ubyte", imgs, "l-idx1-ubyte", labs, []int32{3, 0, 7, 3}, 8},
		{"gzip", "i.gz", gz(t, imgs), "l.gz", gz(t, labs), []int32{3, 0, 7, 3}, 8},
		{"gzip images raw labels", "i.gz", gz(t, imgs), "l", labs, []int32{3, 0, 7, 3}, 8},
		// Detection is by magic bytes, not by name.
		{"raw named .gz", "raw.gz", imgs, "labels.gz", labs, []int32{3, 0, 7, 3}, 8},
		{"gzip named raw", "plain", gz(t, imgs), "plainlabels", gz(t, labs), []int32{3, 0, 7, 3}, 8},
		{"unlabeled", "i", imgs, "", nil, nil, 0},
		{"unlabeled gzip", "i.gz", gz(t, imgs), "", nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ip := filepath.Join(dir, tc.imgName)
			writeFile(t, ip, tc.imgData)
			lp := ""
			if tc.labName != "" {
				lp = filepath.Join(dir, tc.labName)
				writeFile(t, lp, tc.labData)
			}
			s, err := ReadIDX(ip, lp)
			if err != nil {
				t.Fatal(err)
			}
			if s.N != 4 || s.H != 5 || s.W != 7 || s.C != 1 {
				t.Fatalf("shape N=%d %dx%dx%d, want 4 5x7x1", s.N, s.H, s.W, s.C)
			}
			if !slices.Equal(s.Labels, tc.wantLabels) || s.NumClasses != tc.wantNC {
				t.Fatalf("labels %v NumClasses %d, want %v %d", s.Labels, s.NumClasses, tc.wantLabels, tc.wantNC)
			}
			checkPattern(t, s, 0, 4, 0)
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestReadIDXErrors(t *testing.T) {
	goodImgs := encodeIDXImages(3, 4, 4)
	goodLabs := encodeIDXLabels(1, 2, 3)
	tests := []struct {
		name     string
		imgs     []byte // nil: file not created
		labs     []byte // nil: no labels file given
		noLabels bool
		want     []string // substrings; "IMG"/"LAB" are replaced by the file names
		format   bool
	}{
		{"missing images", nil, goodLabs, false, []string{"IMG"}, false},
		{"empty images", []byte{}, goodLabs, false, []string{"IMG", "too short", "expected 16 bytes, got 0"}, true},
		{"short header", goodImgs[:10], goodLabs, false, []string{"IMG", "expected 16 bytes, got 10"}, true},
		{"wrong magic (labels as images)", goodLabs, goodLabs, false, []string{"IMG", "0x00000801", "expected 0x00000803"}, true},
		{"wrong magic (images as labels)", goodImgs, goodImgs, false, []string{"LAB", "0x00000803", "expected 0x00000801"}, true},
		{"wrong magic type byte", append(idxHeader(0x00000d03, 1, 1, 1), 0, 0, 0, 0), nil, true, []string{"IMG", "0x00000d03"}, true},
		{"truncated raw", goodImgs[:len(goodImgs)-5], goodLabs, false, []string{"IMG", "truncated", "48 data bytes", "has 43"}, true},
		{"trailing raw", append(slices.Clone(goodImgs), 1, 2), goodLabs, false, []string{"IMG", "2 trailing bytes", "48 data bytes"}, true},
		{"truncated gzip", gz(t, goodImgs[:len(goodImgs)-5]), goodLabs, false, []string{"IMG", "truncated", "48 data bytes, got 43"}, true},
		{"trailing data in gzip", gz(t, append(slices.Clone(goodImgs), 9, 9, 9)), goodLabs, false, []string{"IMG", "3 or more trailing bytes"}, true},
		{"garbage after gzip stream", append(gz(t, goodImgs), "junk"...), goodLabs, false, []string{"IMG", "gzip"}, false},
		{"cut gzip stream", gz(t, goodImgs)[:30], goodLabs, false, []string{"IMG"}, false},
		{"zero dimension", idxHeader(idxMagicImages, 0, 28, 28), nil, true, []string{"IMG", "dimension 0 is 0", "positive"}, true},
		{"negative dimension", idxHeader(idxMagicImages, 10, -28, 28), nil, true, []string{"IMG", "dimension 1 is -28"}, true},
		{"absurd dimensions", idxHeader(idxMagicImages, 1<<20, 1<<10, 1<<10), nil, true, []string{"IMG", "refusing", "[1048576 1024 1024]"}, true},
		{"absurd dimensions gzip", gz(t, idxHeader(idxMagicImages, 1<<30, 1<<30, 1<<30)), nil, true, []string{"IMG", "refusing"}, true},
		{"label count mismatch", goodImgs, encodeIDXLabels(1, 2), false, []string{"LAB", "2 labels", "expected 3", "IMG"}, true},
		{"truncated labels", goodImgs, goodLabs[:len(goodLabs)-1], false, []string{"LAB", "truncated"}, true},
		{"empty labels", goodImgs, []byte{}, false, []string{"LAB", "too short"}, true},
		{"label out of range", goodImgs, encodeIDXLabels(1, 200, 3), false, []string{"LAB", "record 1:", "label 200 out of range", "expected 0..9"}, true},
		{"first label past the classes", goodImgs, encodeIDXLabels(10, 9, 0), false, []string{"LAB", "record 0:", "label 10 out of range"}, true},
		{"gzip label out of range", goodImgs, gz(t, encodeIDXLabels(0, 1, 255)), false, []string{"LAB", "record 2:", "label 255"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ip := filepath.Join(dir, "imgs-idx3-ubyte")
			lp := filepath.Join(dir, "labs-idx1-ubyte")
			if tc.imgs != nil {
				writeFile(t, ip, tc.imgs)
			}
			if tc.noLabels {
				lp = ""
			} else if tc.labs != nil {
				writeFile(t, lp, tc.labs)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				switch w {
				case "IMG":
					want[i] = ip
				case "LAB":
					want[i] = lp
				default:
					want[i] = w
				}
			}
			s, err := ReadIDX(ip, lp)
			if s != nil {
				t.Errorf("got %v with error", s)
			}
			if tc.format {
				wantFormatErr(t, err, want...)
			} else {
				wantErr(t, err, want...)
			}
		})
	}
}

// TestIDXLyingHeaderAllocatesLittle checks that a header announcing far more
// data than the input holds does not make the reader allocate the announced
// size, for raw files (checked against the file size) and for gzip and
// plain readers (buffer grows with the data).
func TestIDXLyingHeaderAllocatesLittle(t *testing.T) {
	hdr := idxHeader(idxMagicImages, 1<<13, 1<<10, 1<<10) // 8 GiB announced, under the 16 GiB cap
	payload := append(hdr, make([]byte, 1000)...)
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	gzp := filepath.Join(dir, "gz")
	writeFile(t, raw, payload)
	writeFile(t, gzp, gz(t, payload))
	for _, tc := range []struct {
		name string
		read func() (*Images, error)
	}{
		{"raw file", func() (*Images, error) { return ReadIDX(raw, "") }},
		{"gzip file", func() (*Images, error) { return ReadIDX(gzp, "") }},
		{"reader", func() (*Images, error) { return DecodeIDX(bytes.NewReader(payload), nil, "mem", "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := tc.read()
			runtime.ReadMemStats(&after)
			wantFormatErr(t, err, "truncated")
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
				t.Errorf("allocated %d MB for a 1 KB input", d>>20)
			}
		})
	}
}

func TestDecodeIDX(t *testing.T) {
	s, err := DecodeIDX(bytes.NewReader(gz(t, encodeIDXImages(2, 3, 9))), bytes.NewReader(encodeIDXLabels(4, 1)), "imgs", "labs")
	if err != nil {
		t.Fatal(err)
	}
	checkPattern(t, s, 0, 2, 0)
	if !slices.Equal(s.Labels, []int32{4, 1}) || s.NumClasses != 5 {
		t.Fatalf("labels %v NumClasses %d", s.Labels, s.NumClasses)
	}
	_, err = DecodeIDX(bytes.NewReader(encodeIDXImages(2, 3, 9)), bytes.NewReader(encodeIDXLabels(4)), "imgs", "labs")
	wantFormatErr(t, err, "labs", "1 labels", "expected 2")
}

func TestReadIDXDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), gz(t, encodeIDXImages(3, 28, 28)))
	writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), encodeIDXLabels(0, 9, 1))
	writeFile(t, filepath.Join(dir, "t10k-images.idx3-ubyte"), encodeIDXImages(2, 28, 28))
	writeFile(t, filepath.Join(dir, "t10k-labels.idx1-ubyte.gz"), gz(t, encodeIDXLabels(5, 5)))
	tr, err := ReadIDXDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 3 || !slices.Equal(tr.Labels, []int32{0, 9, 1}) || tr.NumClasses != 10 {
		t.Fatalf("train: %v labels %v", tr, tr.Labels)
	}
	checkPattern(t, tr, 0, 3, 0)
	te, err := ReadIDXDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if te.N != 2 || te.NumClasses != 6 {
		t.Fatalf("test: %v", te)
	}

	empty := t.TempDir()
	_, err = ReadIDXDir(empty, true)
	wantErr(t, err, empty, "train-images-idx3-ubyte.gz")
	writeFile(t, filepath.Join(empty, "t10k-images-idx3-ubyte"), encodeIDXImages(1, 2, 2))
	_, err = ReadIDXDir(empty, false)
	wantErr(t, err, empty, "t10k-labels-idx1-ubyte")
}

// TestIDXLabelOutOfRangeIsTyped: the refusal of an out-of-range label is a
// *FormatError whose fields name the label file and the record, from files
// and from readers alike, and the largest valid label is accepted.
func TestIDXLabelOutOfRangeIsTyped(t *testing.T) {
	imgs := encodeIDXImages(4, 2, 2)
	cases := []struct {
		name   string
		labels []byte
		record int // -1: accepted
	}{
		{"valid up to IDXClasses-1", encodeIDXLabels(0, IDXClasses-1, 3, 2), -1},
		{"IDXClasses", encodeIDXLabels(0, 1, 2, IDXClasses), 3},
		{"200", encodeIDXLabels(0, 200, 2, 3), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeIDX(bytes.NewReader(imgs), bytes.NewReader(tc.labels), "imgs", "labs")
			if tc.record < 0 {
				if err != nil {
					t.Fatal(err)
				}
				if s.NumClasses != IDXClasses {
					t.Errorf("NumClasses %d, want %d", s.NumClasses, IDXClasses)
				}
				return
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FormatError", err, err)
			}
			if fe.File != "labs" || fe.Record != tc.record {
				t.Errorf("FormatError names %s record %d, want labs record %d", fe.File, fe.Record, tc.record)
			}
			if s != nil {
				t.Errorf("got a set along with the error")
			}
		})
	}
}
