package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// patternImage returns a w x h NRGBA image holding pat(img, row, col, ch).
func patternImage(w, h, img int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{pat(img, y, x, 0), pat(img, y, x, 1), pat(img, y, x, 2), 255})
		}
	}
	return m
}

func solidImage(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func TestReadFolderLabelled(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dog", "c.PNG"), encodePNG(t, patternImage(8, 8, 2)))
	writeFile(t, filepath.Join(root, "cat", "a.png"), encodePNG(t, patternImage(8, 8, 0)))
	writeFile(t, filepath.Join(root, "cat", "sub", "b.jpg"), encodeJPEG(t, solidImage(16, 16, color.NRGBA{200, 40, 90, 255})))
	writeFile(t, filepath.Join(root, "cat", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(root, ".hidden", "x.png"), encodePNG(t, patternImage(8, 8, 5)))
	writeFile(t, filepath.Join(root, "cat", ".thumb.png"), []byte("junk"))
	writeFile(t, filepath.Join(root, "top.png"), encodePNG(t, patternImage(8, 8, 5)))

	s, err := ReadFolder(root, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || s.H != 8 || s.W != 8 || s.C != 3 {
		t.Fatalf("got %v, want 3 images 8x8x3", s)
	}
	if !slices.Equal(s.ClassNames, []string{"cat", "dog"}) || s.NumClasses != 2 {
		t.Fatalf("ClassNames %q NumClasses %d", s.ClassNames, s.NumClasses)
	}
	if !slices.Equal(s.Labels, []int32{0, 0, 1}) {
		t.Fatalf("labels %v", s.Labels)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// a.png and c.PNG are 8x8: resizing to 8 is the identity.
	checkPattern(t, s, 0, 1, 0)
	checkPattern(t, s, 2, 1, 2)
	// b.jpg is a solid colour, downscaled 2x; JPEG is lossy.
	for i, v := range imageAt(t, s, 1) {
		want := []int{200, 40, 90}[i%3]
		if math.Abs(float64(v)-float64(want)) > 4 {
			t.Fatalf("b.jpg byte %d = %d, want about %d", i, v, want)
		}
	}
}

func TestReadFolderUnlabeled(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "b.png"), encodePNG(t, patternImage(6, 6, 1)))
	writeFile(t, filepath.Join(root, "a", "deep", "a.jpeg"), encodeJPEG(t, solidImage(6, 6, color.NRGBA{128, 128, 128, 255})))
	writeFile(t, filepath.Join(root, "readme.md"), []byte("#"))
	s, err := ReadFolder(root, 6, false)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 || s.Labels != nil || s.NumClasses != 0 {
		t.Fatalf("got %v labels %v", s, s.Labels)
	}
	// Lexical walk order: a/deep/a.jpeg before b.png.
	checkPattern(t, s, 1, 1, 1)
}

// TestReadFolderCenterCrop checks the shorter side and the crop position
// with three vertical (or horizontal) colour bands: only the middle band
// survives.
func TestReadFolderCenterCrop(t *testing.T) {
	bands := func(w, h int, horizontal bool) *image.NRGBA {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		cols := []color.NRGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				k := x * 3 / w
				if horizontal {
					k = y * 3 / h
				}
				m.SetNRGBA(x, y, cols[k])
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		img  image.Image
		size int
	}{
		{"landscape same scale", bands(24, 8, false), 8},
		{"portrait same scale", bands(8, 24, true), 8},
		{"landscape downscale", bands(96, 32, false), 8},
		{"portrait upscale", bands(6, 18, true), 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "x.png"), encodePNG(t, tc.img))
			s, err := ReadFolder(root, tc.size, false)
			if err != nil {
				t.Fatal(err)
			}
			// Away from the band edges the crop must be pure green.
			margin := tc.size / 4
			if tc.name == "landscape same scale" || tc.name == "portrait same scale" {
				margin = 0
			}
			im := imageAt(t, s, 0)
			for y := 0; y < tc.size; y++ {
				for x := 0; x < tc.size; x++ {
					along := x
					if strings.HasPrefix(tc.name, "portrait") {
						along = y
					}
					if along < margin || along >= tc.size-margin {
						continue
					}
					p := im[(y*tc.size+x)*3:][:3]
					if p[0] != 0 || p[1] != 255 || p[2] != 0 {
						t.Fatalf("pixel (%d,%d) = %v, want pure green", y, x, p)
					}
				}
			}
		})
	}
}

func TestToRGB8Types(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 3, 2))
	gray.Pix = []byte{0, 10, 20, 30, 40, 50}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{1, 2, 3, 255}, color.NRGBA{4, 5, 6, 255}})
	pal.Pix = []byte{1, 0}
	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 0xab12})
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetRGBA(0, 0, color.RGBA{10, 20, 30, 255})
	rgba.SetRGBA(1, 0, color.RGBA{50, 25, 0, 128}) // premultiplied, alpha 128
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{100, 150, 200, 7}) // alpha dropped, colour kept
	sub := patternImage(6, 6, 3).SubImage(image.Rect(2, 1, 5, 3))
	ycc := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 81
	}
	ycc.Cb[0], ycc.Cr[0] = 90, 240 // pure red in YCbCr
	r, g, b := color.YCbCrToRGB(81, 90, 240)

	tests := []struct {
		name string
		img  image.Image
		want []byte
	}{
		{"gray", gray, []byte{0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 50, 50, 50}},
		{"paletted", pal, []byte{4, 5, 6, 1, 2, 3}},
		{"gray16", g16, []byte{0xab, 0xab, 0xab}},
		{"rgba", rgba, []byte{10, 20, 30, 99, 49, 0}},
		{"nrgba", nrgba, []byte{100, 150, 200}},
		{"ycbcr", ycc, []byte{r, g, b, r, g, b, r, g, b, r, g, b}},
		{"subimage", sub, []byte{
			pat(3, 1, 2, 0), pat(3, 1, 2, 1), pat(3, 1, 2, 2), pat(3, 1, 3, 0), pat(3, 1, 3, 1), pat(3, 1, 3, 2), pat(3, 1, 4, 0), pat(3, 1, 4, 1), pat(3, 1, 4, 2),
			pat(3, 2, 2, 0), pat(3, 2, 2, 1), pat(3, 2, 2, 2), pat(3, 2, 3, 0), pat(3, 2, 3, 1), pat(3, 2, 3, 2), pat(3, 2, 4, 0), pat(3, 2, 4, 1), pat(3, 2, 4, 2),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, w, h := toRGB8(tc.img)
			if w*h*3 != len(tc.want) || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %v (%dx%d), want %v", got, w, h, tc.want)
			}
		})
	}
}

func TestReadFolderErrors(t *testing.T) {
	bigPNG := encodePNG(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	// Patch the IHDR width/height (bytes 16..23) to 100000 x 100000 and fix
	// the chunk CRC: a valid header announcing 10^10 pixels must be refused
	// before decoding allocates them.
	binary.BigEndian.PutUint32(bigPNG[16:], 100000)
	binary.BigEndian.PutUint32(bigPNG[20:], 100000)
	binary.BigEndian.PutUint32(bigPNG[29:], crc32.ChecksumIEEE(bigPNG[12:29]))
	good := encodePNG(t, patternImage(4, 4, 0))
	tests := []struct {
		name     string
		files    map[string][]byte
		labelled bool
		size     int
		want     []string // ROOT is replaced by the root folder
	}{
		{"empty root unlabeled", nil, false, 8, []string{"ROOT", "no images"}},
		{"only non-images", map[string][]byte{"a.txt": []byte("x"), "sub/b.gif": []byte("GIF89a")}, false, 8, []string{"ROOT", "no images"}},
		{"labelled without classes", map[string][]byte{"a.png": good}, true, 8, []string{"ROOT", "no class sub-folders"}},
		{"empty class folder", map[string][]byte{"cat/a.png": good, "dog/readme.txt": []byte("x")}, true, 8, []string{filepath.Join("ROOT", "dog"), "no images"}},
		{"corrupt png", map[string][]byte{"cat/a.png": good, "cat/bad.png": good[:len(good)/2]}, true, 8, []string{filepath.Join("ROOT", "cat", "bad.png"), "not a readable"}},
		{"not an image", map[string][]byte{"x.jpg": []byte("hello world")}, false, 8, []string{"x.jpg", "not a readable"}},
		{"huge dimensions", map[string][]byte{"huge.png": bigPNG}, false, 8, []string{"huge.png", "100000x100000"}},
		{"size zero", map[string][]byte{"a.png": good}, false, 0, []string{"ROOT", "image size 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, b := range tc.files {
				writeFile(t, filepath.Join(root, name), b)
			}
			s, err := ReadFolder(root, tc.size, tc.labelled)
			if s != nil {
				t.Errorf("got %v with error", s)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = strings.ReplaceAll(w, "ROOT", root)
			}
			wantErr(t, err, want...)
		})
	}
	_, err := ReadFolder(filepath.Join(t.TempDir(), "missing"), 8, true)
	wantErr(t, err, "missing")
	_, err = ReadFolder(filepath.Join(t.TempDir(), "missing2"), 8, false)
	wantErr(t, err, "missing2")
}

// TestReadFilesKeepsOrder decodes files in the order given (not sorted) and
// names a corrupt one in its error.
func TestReadFilesKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	colours := []color.NRGBA{{200, 10, 10, 255}, {10, 200, 10, 255}}
	paths := []string{filepath.Join(dir, "z.png"), filepath.Join(dir, "a.png")}
	for i, p := range paths {
		if err := os.WriteFile(p, encodePNG(t, solidImage(6, 6, colours[i])), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ReadFiles(paths, 4)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 || s.C != 3 || imageAt(t, s, 0)[0] != 200 || imageAt(t, s, 1)[1] != 200 {
		t.Errorf("got %v, first pixels %v %v", s, imageAt(t, s, 0)[:3], imageAt(t, s, 1)[:3])
	}
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFiles([]string{paths[0], bad}, 4); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("corrupt file: err = %v", err)
	}
}
