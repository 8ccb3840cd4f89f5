package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeImage: bytes in memory decode to the pixels ReadFiles gives for
// the same file; the pixel bound is read from the header.
func TestDecodeImage(t *testing.T) {
	dir := t.TempDir()
	for i, enc := range []func(testing.TB, int, int) []byte{
		func(t testing.TB, w, h int) []byte { return encodePNG(t, patternImage(w, h, 1)) },
		func(t testing.TB, w, h int) []byte { return encodeJPEG(t, patternImage(w, h, 2)) },
	} {
		b := enc(t, 37, 22)
		p := filepath.Join(dir, []string{"a.png", "b.jpg"}[i])
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := ReadFiles([]string{p}, 16)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeImage(b, "x", 16, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Pix) {
			t.Errorf("%s: DecodeImage differs from ReadFiles", p)
		}
		if _, err := DecodeImage(b, "big", 16, 37*22-1); err == nil || !strings.Contains(err.Error(), "big: image is 37x22 pixels, more than the limit of 813 pixels") {
			t.Errorf("pixel bound: %v", err)
		}
	}
	if _, err := DecodeImage([]byte("not an image"), "junk", 16, 0); err == nil || !strings.Contains(err.Error(), "junk: not a readable JPEG or PNG image") {
		t.Errorf("junk: %v", err)
	}
	if _, err := DecodeImage(nil, "empty", 0, 0); err == nil || !strings.Contains(err.Error(), "image size 0") {
		t.Errorf("size 0: %v", err)
	}
}
