package data

import (
	"bytes"
	"image"
	"image/color"
	"math"
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

// TestOneGreyRule: an RGB PNG and an RGB JPEG become grey the same way in
// the training reader (a TFRecord read with channels 1) and in DecodeFull
// (what simsiam embed, predict and serve use): byte for byte. GreyWeights
// and Luma agree with color.GrayModel.
func TestOneGreyRule(t *testing.T) {
	dir := t.TempDir()
	img := patternImage(40, 60, 3)
	for _, c := range []struct {
		name string
		enc  []byte
	}{{"png", encodePNG(t, img)}, {"jpeg", encodeJPEG(t, img)}} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".tfrecord")
			writeFile(t, p, tfrecordFile(encodeExample(map[string]exFeature{"image": bytesFeature(c.enc)})))
			set, err := ReadTFRecord(p, "", "image", "", 1)
			if err != nil {
				t.Fatal(err)
			}
			pix, h, w, err := DecodeFull(c.enc, c.name, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if h != 60 || w != 40 || set.H != h || set.W != w || set.C != 1 {
				t.Fatalf("DecodeFull %dx%d, reader %dx%dx%d, want 60x40x1", h, w, set.H, set.W, set.C)
			}
			diff := 0
			for i := range pix {
				if pix[i] != set.Pix[i] {
					diff++
				}
			}
			if diff != 0 {
				t.Errorf("%d of %d grey pixels differ between the reader and DecodeFull", diff, len(pix))
			}
			rgb, _, _, err := DecodeFull(c.enc, c.name, 3, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "png" {
				// Not a JPEG: grey is Luma of the RGB pixels.
				for i := range pix {
					if want := Luma(rgb[3*i], rgb[3*i+1], rgb[3*i+2]); pix[i] != want {
						t.Fatalf("pixel %d: %d, Luma of its RGB %d", i, pix[i], want)
					}
				}
			}
		})
	}
	for _, px := range [][3]byte{{0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {12, 200, 77}, {250, 3, 128}} {
		want := color.GrayModel.Convert(color.RGBA{px[0], px[1], px[2], 255}).(color.Gray).Y
		if got := Luma(px[0], px[1], px[2]); got != want {
			t.Errorf("Luma%v = %d, color.GrayModel %d", px, got, want)
		}
		f := GreyWeights[0]*float32(px[0]) + GreyWeights[1]*float32(px[1]) + GreyWeights[2]*float32(px[2])
		if d := math.Abs(float64(f) - float64(want)); d > 0.5 {
			t.Errorf("GreyWeights on %v = %v, Luma %d", px, f, want)
		}
	}
}

// TestReadHeader: the header gives the size and what decoding allocates,
// and the bounds hold before anything is decoded.
func TestReadHeader(t *testing.T) {
	for _, c := range []struct {
		name string
		img  image.Image
		per  int64
	}{
		{"grey png", image.NewGray(image.Rect(0, 0, 30, 20)), 1},
		{"rgba png", image.NewNRGBA(image.Rect(0, 0, 30, 20)), 4},
		{"16-bit rgba png", image.NewNRGBA64(image.Rect(0, 0, 30, 20)), 8},
	} {
		b := encodePNG(t, c.img)
		h, err := ReadHeader(b, c.name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h.Width != 30 || h.Height != 20 || h.DecodeBytes != 600*c.per {
			t.Errorf("%s: %+v, want 30x20 and %d bytes", c.name, h, 600*c.per)
		}
		if _, err := ReadHeader(b, c.name, 599); err == nil || !strings.Contains(err.Error(), "more than the limit of 599 pixels") {
			t.Errorf("%s: pixel bound: %v", c.name, err)
		}
	}
	if _, _, _, err := DecodeFull(encodePNG(t, image.NewGray(image.Rect(0, 0, 3, 3))), "x", 2, 0); err == nil || !strings.Contains(err.Error(), "2 channels") {
		t.Errorf("2 channels: %v", err)
	}
}
