package augment

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestEraseMask compares EraseMask with the rectangles computed here from
// the same draws: the pixels whose centre lies inside, one rectangle per
// applied sample, none for the others, areas within the scale.
func TestEraseMask(t *testing.T) {
	const n, size = 300, 20
	scale := [2]float64{0.02, 0.33}
	r := rand.New(rand.NewPCG(7, 8))
	u := make([]float32, n*4)
	apply := make([]float32, n)
	for i := range u {
		u[i] = r.Float32()
	}
	for i := range apply {
		apply[i] = float32(i % 2)
	}
	g := tfgraph.NewGraph()
	s := g.Root()
	mask := EraseMask(s, s.Const("u", tensor(t, u, n, 4)), s.Const("apply", apply), size, scale)
	got := floats(t, runGraph(t, g, nil, mask)[0])
	if len(got) != n*size*size {
		t.Fatalf("mask has %d values, want %d", len(got), n*size*size)
	}
	var near, frac float64
	for i := 0; i < n; i++ {
		area := scale[0] + float64(u[i*4])*(scale[1]-scale[0])
		ratio := math.Exp(math.Log(EraseRatio[0]) + float64(u[i*4+1])*(math.Log(EraseRatio[1])-math.Log(EraseRatio[0])))
		h, w := math.Min(math.Sqrt(area*ratio), 1), math.Min(math.Sqrt(area/ratio), 1)
		top, left := float64(u[i*4+2])*(1-h), float64(u[i*4+3])*(1-w)
		ones := 0
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				cy, cx := (float64(y)+0.5)/size, (float64(x)+0.5)/size
				in := apply[i] == 1 && cy >= top && cy < top+h && cx >= left && cx < left+w
				v := got[(i*size+y)*size+x]
				if v != 0 && v != 1 {
					t.Fatalf("sample %d pixel (%d, %d): mask %v", i, y, x, v)
				}
				if (v == 1) != in {
					// float32 against float64 at a rectangle's edge
					edge := min(math.Abs(cy-top), math.Abs(cy-top-h), math.Abs(cx-left), math.Abs(cx-left-w))
					if edge > 1e-5 {
						t.Fatalf("sample %d pixel (%d, %d): mask %v, want inside=%v", i, y, x, v, in)
					}
					near++
				}
				if v == 1 {
					ones++
				}
			}
		}
		if apply[i] == 0 && ones != 0 {
			t.Fatalf("sample %d is not applied but %d pixels are masked", i, ones)
		}
		if apply[i] == 1 {
			frac += float64(ones) / (size * size)
			if f := float64(ones) / (size * size); f > scale[1]+0.2 {
				t.Errorf("sample %d: %.3f of the image masked for a drawn area of %.3f", i, f, area)
			}
		}
	}
	frac /= n / 2
	t.Logf("mean masked fraction %.3f; %v pixels on an edge", frac, near)
	// The capped sides make the mean area a little below the scale's mean.
	if frac < 0.1 || frac > (scale[0]+scale[1])/2+0.02 {
		t.Errorf("mean masked fraction %.3f, want about %.3f", frac, (scale[0]+scale[1])/2)
	}
}
