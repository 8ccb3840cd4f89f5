package augment

import (
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// BenchmarkViews measures both views of one batch per iteration, fed as
// uint8 like the trainer does, and reports images/s (one image = its two
// views).
func BenchmarkViews(b *testing.B) {
	cases := []struct {
		name       string
		n, side    int64
		size, blur float64
	}{
		{"cifar_256x32x32x3_noblur", 256, 32, 32, 0},
		{"stl_64x96x96x3_blur", 64, 96, 96, 0.5},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			a := configs.Default().Augment
			a.BlurProb = tc.blur
			d := configs.Data{ImageSize: int(tc.size), Channels: 3,
				Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.2470, 0.2435, 0.2616}}
			g, images, seed, v1, v2 := buildViews(a, d, 3)
			sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			r := rand.New(rand.NewPCG(1, 1))
			pix := make([]uint8, tc.n*tc.side*tc.side*3)
			for i := range pix {
				pix[i] = uint8(r.IntN(256))
			}
			img := tensor(b, pix, tc.n, tc.side, tc.side, 3)
			feeds := map[tfgraph.Output]*tfgraph.Tensor{images: img, seed: tensor(b, StepSeed(0, 0), 2)}
			if _, err := sess.Run(feeds, []tfgraph.Output{v1, v2}); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				feeds[seed] = tensor(b, StepSeed(0, int64(i)), 2)
				if _, err := sess.Run(feeds, []tfgraph.Output{v1, v2}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tc.n)*float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
