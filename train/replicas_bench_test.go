package train

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// BenchmarkDataParallel measures steps/s of 1 and 2 workers (TF gRPC
// servers on loopback, ring all-reduce, in this process) on the same
// global batch of 32 for a ResNet-18 of width 16, and the share of a
// 2-worker step spent in the all-reduce of its gradient buffers (timed
// alone, by feeding the buffers).
func BenchmarkDataParallel(b *testing.B) {
	cfg := testutil.TinyConfig()
	cfg.Model.Width, cfg.Model.ProjDim, cfg.Model.ProjHidden, cfg.Model.PredHidden = 16, 128, 128, 32
	const global = 32
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 5))
			x1, _ := tfgraph.NewTensor(randomBatch(r, global/workers, 16, 3))
			x2, _ := tfgraph.NewTensor(randomBatch(r, global/workers, 16, 3))
			var rs *replicaSet
			if workers == 1 {
				st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 1000, TotalSteps: 1000})
				if err != nil {
					b.Fatal(err)
				}
				sess, err := NewSession(st, tfgraph.SessionOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer sess.Close()
				rs = &replicaSet{steps: []*Step{st}, sess: []*Session{sess}}
			} else {
				rs = newReplicaSet(b, workers, func(r *Replicas) (*Step, error) {
					return BuildStep(cfg, StepOptions{StepsPerEpoch: 1000, TotalSteps: 1000, Replicas: r})
				}, 120)
				rs.each(b, func(i int) error { _, err := rs.sess[i].Run(nil, nil, rs.steps[i].Sync); return err })
			}
			step := func() {
				rs.each(b, func(i int) error {
					_, err := rs.sess[i].TrainStep(map[Output]*tfgraph.Tensor{rs.steps[i].X1: x1, rs.steps[i].X2: x2})
					return err
				})
			}
			step() // warm-up
			b.ResetTimer()
			for range b.N {
				step()
			}
			perStep := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(1/perStep, "steps/s")
			b.ReportMetric(global/perStep, "images/s")
			if workers == 1 {
				return
			}
			// The all-reduce alone: the same buffers fed, summed, returned.
			b.StopTimer()
			feeds := make([]map[Output]*tfgraph.Tensor, workers)
			for i := range feeds {
				feeds[i] = map[Output]*tfgraph.Tensor{}
				for _, in := range rs.steps[i].packIn {
					dims, err := in.Shape().ToSlice()
					if err != nil || len(dims) != 1 {
						b.Fatalf("buffer shape %v %v", dims, err)
					}
					t, _ := tfgraph.NewTensor(make([]float32, dims[0]))
					feeds[i][in] = t
				}
			}
			const reps = 5
			// The first run of a new feed/fetch set builds its executors.
			rs.each(b, func(i int) error { _, err := rs.sess[i].Run(feeds[i], rs.steps[i].packOut); return err })
			t0 := time.Now()
			for range reps {
				rs.each(b, func(i int) error { _, err := rs.sess[i].Run(feeds[i], rs.steps[i].packOut); return err })
			}
			ar := time.Since(t0).Seconds() / reps
			b.ReportMetric(100*ar/perStep, "%allreduce")
			b.ReportMetric(ar*1e3, "ms-allreduce")
		})
	}
}
