package augment

import (
	"math"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestRGBInputForAGreyModel: RGB images for a 1-channel model become grey
// by the one input conversion (data.GreyWeights, BT.601), not by the
// colour augmentations' tf.image weights (GreyWeights).
func TestRGBInputForAGreyModel(t *testing.T) {
	pix := []uint8{255, 0, 0, 0, 255, 0, 0, 0, 255, 12, 200, 77}
	g := tfgraph.NewGraph()
	s := g.Root()
	images := s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, 3})
	out := Eval(s, images, configs.Data{ImageSize: 2, Channels: 1})
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	got := floats(t, runGraph(t, g, map[tfgraph.Output]*tfgraph.Tensor{images: tensor(t, pix, 1, 2, 2, 3)}, out)[0])
	if len(got) != 4 {
		t.Fatalf("%d values, want 4", len(got))
	}
	w := data.GreyWeights
	for i := range got {
		r, gg, b := float64(pix[3*i]), float64(pix[3*i+1]), float64(pix[3*i+2])
		want := (float64(w[0])*r + float64(w[1])*gg + float64(w[2])*b) / 255
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("pixel %d: %v, want BT.601 %v", i, got[i], want)
		}
		aug := (float64(GreyWeights[0])*r + float64(GreyWeights[1])*gg + float64(GreyWeights[2])*b) / 255
		if i == 0 && math.Abs(float64(got[i])-aug) < 1e-6 {
			t.Errorf("pixel %d uses the augmentation weights", i)
		}
	}
}
