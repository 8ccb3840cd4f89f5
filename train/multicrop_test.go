package train

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestLocalViewsTrainButLeaveMovingStatistics: with augment.local_crops the
// step takes the local views (their own placeholder, at their own side),
// their predictions enter the loss and the gradients, and the BatchNorm
// moving statistics, which evaluation uses on full-size images, are
// exactly those of the same step without local views.
func TestLocalViewsTrainButLeaveMovingStatistics(t *testing.T) {
	const n, k, side = 8, 2, 8
	r := rand.New(rand.NewPCG(3, 4))
	x1, _ := tfgraph.NewTensor(randomBatch(r, n, 16, 3))
	x2, _ := tfgraph.NewTensor(randomBatch(r, n, 16, 3))
	local, _ := tfgraph.NewTensor(randomBatch(r, k*n, side, 3))

	run := func(crops int) (float32, map[string][]byte, map[string][]byte) {
		cfg := testutil.TinyConfig()
		cfg.Augment.LocalCrops, cfg.Augment.LocalSize = crops, side
		st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
		if err != nil {
			t.Fatal(err)
		}
		if (st.Local.Op != nil) != (crops > 0) {
			t.Fatalf("local_crops=%d: local placeholder %v", crops, st.Local.Op != nil)
		}
		sess := newSession(t, st)
		before := snapshot(t, sess)
		feeds := map[Output]*tfgraph.Tensor{st.X1: x1, st.X2: x2}
		if crops > 0 {
			feeds[st.Local] = local
		}
		stats, err := sess.TrainStep(feeds)
		if err != nil {
			t.Fatal(err)
		}
		return stats.Loss, before, snapshot(t, sess)
	}
	loss0, init0, after0 := run(0)
	loss2, init2, after2 := run(k)

	if d := changed(init0, init2); len(d) > 0 {
		t.Fatalf("initial variables differ with local views: %v", d)
	}
	if loss0 == loss2 {
		t.Errorf("the loss is %v with and without local views", loss0)
	}
	var moving, weights int
	for key, v := range after0 {
		switch {
		case strings.Contains(key, "moving_"):
			moving++
			if string(v) != string(after2[key]) {
				t.Errorf("%s after the step differs with local views", key)
			}
			if string(v) == string(init0[key]) {
				t.Errorf("%s did not move in the step", key)
			}
		case key == "encoder/conv1/kernel" || key == "predictor/fc1/kernel":
			weights++
			if string(v) == string(after2[key]) {
				t.Errorf("%s after the step is the same with and without local views: their gradients do not count", key)
			}
		}
	}
	if moving == 0 || weights != 2 {
		t.Fatalf("compared %d moving statistics and %d weights", moving, weights)
	}
}

// TestPipelineMakesLocalViews: the in-graph augmentation feeds the step
// local_crops views per image at local_size (0: half of data.image_size),
// different from each other, and the two full-size views are bit for bit
// those of the same step without local views.
func TestPipelineMakesLocalViews(t *testing.T) {
	const n, k = 4, 3
	pix := make([]byte, n*20*20*3)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	views := func(crops int) []*tfgraph.Tensor {
		cfg := testutil.TinyConfig()
		cfg.Augment.LocalCrops = crops
		p, err := BuildPipeline(cfg, 10, 10)
		if err != nil {
			t.Fatal(err)
		}
		sess := newSession(t, p.Step)
		feeds, err := p.Feeds(pix, n, 20, 20, 3, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		fetch := []Output{p.X1, p.X2}
		if crops > 0 {
			fetch = append(fetch, p.Local)
		}
		out, err := sess.Run(feeds, fetch)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain, multi := views(0), views(k)
	for i := range 2 {
		if !slices.Equal(plain[i].Shape(), []int64{n, 16, 16, 3}) {
			t.Fatalf("view %d has shape %v", i+1, plain[i].Shape())
		}
		a, b := plain[i].Value().([][][][]float32), multi[i].Value().([][][][]float32)
		for j := range a {
			if !sameImage(a[j], b[j]) {
				t.Fatalf("view %d of image %d differs with local views", i+1, j)
			}
		}
	}
	if s := multi[2].Shape(); !slices.Equal(s, []int64{k * n, 8, 8, 3}) {
		t.Fatalf("local views have shape %v, want [%d 8 8 3]", s, k*n)
	}
	loc := multi[2].Value().([][][][]float32)
	for j := 1; j < k; j++ {
		for i := range n {
			if sameImage(loc[i], loc[j*n+i]) {
				t.Errorf("local views 1 and %d of image %d are the same", j+1, i)
			}
		}
	}
}

func sameImage(a, b [][][]float32) bool {
	for y := range a {
		for x := range a[y] {
			if !slices.Equal(a[y][x], b[y][x]) {
				return false
			}
		}
	}
	return true
}
