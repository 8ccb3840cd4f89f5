package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pat is the asymmetric test pattern: every channel depends on row, column
// and image index differently, so transposes, channel swaps and image
// reordering all change the value.
func pat(img, row, col, ch int) byte {
	switch ch {
	case 0:
		return byte(row*7 + col + img*13)
	case 1:
		return byte(col*3 + img*29 + 1)
	default:
		return byte(255 - row + img*41)
	}
}

// checkPattern verifies that image i of s equals pat(imgBase+i, ...).
func checkPattern(t *testing.T, s *Images, first, count, imgBase int) {
	t.Helper()
	bad := 0
	for i := first; i < first+count; i++ {
		im := imageAt(t, s, i)
		for row := 0; row < s.H; row++ {
			for col := 0; col < s.W; col++ {
				for c := 0; c < s.C; c++ {
					got := im[(row*s.W+col)*s.C+c]
					want := pat(imgBase+i-first, row, col, c)
					if got != want {
						if bad < 5 {
							t.Errorf("image %d pixel (row %d, col %d, ch %d) = %d, want %d", i, row, col, c, got, want)
						}
						bad++
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d pixel mismatches", bad)
	}
}

// encodeSTL10 writes images imgBase.. in the published STL-10 layout: for
// each image, planes R, G, B; each plane column after column (column-major).
func encodeSTL10(n, imgBase int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			for col := 0; col < 96; col++ {
				for row := 0; row < 96; row++ {
					b.WriteByte(pat(imgBase+i, row, col, c))
				}
			}
		}
	}
	return b.Bytes()
}

// encodeCIFAR writes records in the published CIFAR layout: label bytes,
// then planes R, G, B, each row after row.
func encodeCIFAR(labels [][]byte, imgBase int) []byte {
	var b bytes.Buffer
	for i, l := range labels {
		b.Write(l)
		for c := 0; c < 3; c++ {
			for row := 0; row < 32; row++ {
				for col := 0; col < 32; col++ {
					b.WriteByte(pat(imgBase+i, row, col, c))
				}
			}
		}
	}
	return b.Bytes()
}

// idxHeader builds an IDX header from a magic number and dimensions.
func idxHeader(magic uint32, dims ...int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return b
}

// encodeIDXImages writes an IDX image file of n rows x cols images using
// channel 0 of the pattern.
func encodeIDXImages(n, rows, cols int) []byte {
	b := idxHeader(idxMagicImages, int32(n), int32(rows), int32(cols))
	for i := 0; i < n; i++ {
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				b = append(b, pat(i, r, c, 0))
			}
		}
	}
	return b
}

// encodeIDXLabels writes an IDX label file.
func encodeIDXLabels(labels ...byte) []byte {
	return append(idxHeader(idxMagicLabels, int32(len(labels))), labels...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is non-nil and that its message contains every
// substring.
func wantErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substrs)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// wantFormatErr additionally requires a *FormatError.
func wantFormatErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	wantErr(t, err, substrs...)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("error %q (%T) is not a *FormatError", err, err)
	}
}

func bytesRepeat(v byte, n int) []byte { return bytes.Repeat([]byte{v}, n) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// imageAt is s.Image(i), failing the test on an error.
func imageAt(t testing.TB, s *Images, i int) []byte {
	t.Helper()
	im, err := s.Image(i)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// label is s.Label(i), failing the test on an error.
func label(t testing.TB, s *Images, i int) int {
	t.Helper()
	l, err := s.Label(i)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// batch is s.Batch(idx, dst), failing the test on an error.
func batch(t testing.TB, s *Images, idx []int, dst []byte) []byte {
	t.Helper()
	b, err := s.Batch(idx, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// batchLabels is s.BatchLabels(idx, dst), failing the test on an error.
func batchLabels(t testing.TB, s *Images, idx []int, dst []int32) []int32 {
	t.Helper()
	l, err := s.BatchLabels(idx, dst)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
