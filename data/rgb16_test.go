package data

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// TestRGBIntoSixteenBit: the in-place paths for 16-bit images give exactly
// what the generic path (color.NRGBAModel over At) gives, for every alpha
// from transparent to opaque, on a sub-image too.
func TestRGBIntoSixteenBit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const w, h = 37, 23
	nrgba := image.NewNRGBA64(image.Rect(0, 0, w, h))
	rgba := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint16(r.IntN(0x10000))
			switch r.IntN(4) {
			case 0:
				a = 0
			case 1:
				a = 0xffff
			}
			nrgba.SetNRGBA64(x, y, color.NRGBA64{R: uint16(r.IntN(0x10000)), G: uint16(r.IntN(0x10000)), B: uint16(r.IntN(0x10000)), A: a})
			// Premultiplied: every channel at most alpha.
			c := func() uint16 { return uint16(r.IntN(int(a) + 1)) }
			rgba.SetRGBA64(x, y, color.RGBA64{R: c(), G: c(), B: c(), A: a})
		}
	}
	for _, img := range []image.Image{nrgba, rgba, nrgba.SubImage(image.Rect(3, 5, 30, 20)), rgba.SubImage(image.Rect(1, 2, 36, 22))} {
		b := img.Bounds()
		got := make([]byte, b.Dx()*b.Dy()*3)
		rgbInto(got, img)
		o := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				if got[o] != c.R || got[o+1] != c.G || got[o+2] != c.B {
					t.Fatalf("%T at (%d, %d): got %v, want %v (from %v)", img, x, y, got[o:o+3], []byte{c.R, c.G, c.B}, img.At(x, y))
				}
				o += 3
			}
		}
	}
}
