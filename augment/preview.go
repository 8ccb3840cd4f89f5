package augment

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Preview renders, for the images idx of imgs, one row each: the
// evaluation-transformed original and the two augmented views the training
// step would see at the given step seed, de-normalised back to pixels. Each
// cell is d.ImageSize pixels scaled up by an integer factor to at least 96
// pixels, with a 2-pixel gap. Users check orientation, colours and
// augmentation strength by eye before a long run.
func Preview(imgs *data.Images, idx []int, a configs.Augment, d configs.Data, seed []int64) (*image.RGBA, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("preview: no images chosen")
	}
	if imgs.C != d.Channels {
		return nil, fmt.Errorf("preview: %s has %d channels, data.channels is %d", imgs.Source, imgs.C, d.Channels)
	}
	for _, i := range idx {
		if i < 0 || i >= imgs.N {
			return nil, fmt.Errorf("preview: image %d out of range (%s has %d)", i, imgs.Source, imgs.N)
		}
	}
	g := tfgraph.NewGraph()
	s := g.Root().Child("preview")
	in := s.Placeholder("images", tfgraph.Uint8, []int64{-1, int64(imgs.H), int64(imgs.W), int64(imgs.C)})
	sd := s.Placeholder("seed", tfgraph.Int64, []int64{2})
	orig := Eval(s.Child("original"), in, d)
	v1, v2 := Views(s.Child("views"), in, sd, a, d)
	if err := g.Err(); err != nil {
		return nil, err
	}
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	pix, err := imgs.Batch(idx, nil)
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	t, err := tfgraph.NewTensor(pix)
	if err != nil {
		return nil, err
	}
	if err := t.Reshape([]int64{int64(len(idx)), int64(imgs.H), int64(imgs.W), int64(imgs.C)}); err != nil {
		return nil, err
	}
	st, err := tfgraph.NewTensor(seed)
	if err != nil {
		return nil, err
	}
	out, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{in: t, sd: st}, []tfgraph.Output{orig, v1, v2})
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	size := d.ImageSize
	scale := (96 + size - 1) / size
	cell, gap := size*scale, 2
	grid := image.NewRGBA(image.Rect(0, 0, 3*cell+2*gap, len(idx)*cell+(len(idx)-1)*gap))
	for col, res := range out {
		batch, err := tfgraph.Value[[][][][]float32](res)
		if err != nil {
			return nil, fmt.Errorf("preview: %w", err)
		}
		for row, im := range batch {
			x0, y0 := col*(cell+gap), row*(cell+gap)
			for y := 0; y < cell; y++ {
				for x := 0; x < cell; x++ {
					px := im[y/scale][x/scale]
					grid.Set(x0+x, y0+y, pixel(px, d))
				}
			}
		}
	}
	return grid, nil
}

// pixel de-normalises one network input pixel to a colour.
func pixel(v []float32, d configs.Data) color.RGBA {
	ch := func(c int) uint8 {
		m, sd := 0.0, 1.0
		if len(d.Mean) > 0 {
			m, sd = d.Mean[min(c, len(d.Mean)-1)], d.Std[min(c, len(d.Std)-1)]
		}
		x := (float64(v[c])*sd + m) * 255
		return uint8(max(0, min(255, x+0.5)))
	}
	if len(v) == 1 {
		g := ch(0)
		return color.RGBA{g, g, g, 255}
	}
	return color.RGBA{ch(0), ch(1), ch(2), 255}
}

// WritePNG writes img to path.
func WritePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
