package augment

import (
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
)

// TestPreviewGridKeepsOrientation feeds an asymmetric pattern (a bright
// top-left quadrant, a red band on the right) through a preview with every
// random stage off: all three cells of a row must show it the right way up
// and unswapped, and the grid must have the documented size.
func TestPreviewGridKeepsOrientation(t *testing.T) {
	const n, size = 2, 32
	imgs := &data.Images{N: n, H: size, W: size, C: 3, Pix: make([]byte, n*size*size*3), Source: "pattern"}
	for i := 0; i < n; i++ {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				p := imgs.Pix[((i*size+y)*size+x)*3:]
				if y < size/2 && x < size/2 {
					p[0], p[1], p[2] = 250, 250, 250
				}
				if x >= size-4 {
					p[0] = 255
				}
			}
		}
	}
	cfg := configs.Default()
	d := cfg.Data
	d.ImageSize, d.Channels, d.Mean, d.Std = size, 3, []float64{0.5, 0.5, 0.5}, []float64{0.25, 0.25, 0.25}
	a := cfg.Augment
	a.CropScale, a.CropRatio = []float64{1, 1}, []float64{1, 1}
	a.JitterProb, a.GrayscaleProb, a.BlurProb, a.FlipProb = 0, 0, 0, 0
	grid, err := Preview(imgs, []int{0, 1}, a, d, StepSeed(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	cell := size * 3 // 32 px scaled by 3 to reach 96
	if b := grid.Bounds(); b.Dx() != 3*cell+4 || b.Dy() != 2*cell+2 {
		t.Fatalf("grid %v, want %dx%d", b, 3*cell+4, 2*cell+2)
	}
	for row := 0; row < n; row++ {
		for col := 0; col < 3; col++ {
			x0, y0 := col*(cell+2), row*(cell+2)
			tl := grid.RGBAAt(x0+cell/8, y0+cell/8)
			br := grid.RGBAAt(x0+cell/2+cell/8, y0+cell-cell/8-1)
			right := grid.RGBAAt(x0+cell-2, y0+cell-cell/8-1)
			if tl.G < 200 || br.G > 40 {
				t.Errorf("row %d col %d: top-left %v bottom %v: pattern not the right way up", row, col, tl, br)
			}
			if right.R < 200 || right.G > 40 {
				t.Errorf("row %d col %d: right band %v, want red (channels swapped or mirrored?)", row, col, right)
			}
		}
	}
}
