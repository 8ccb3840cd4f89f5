package train

import (
	"math"
	"testing"

	"github.com/simsiam-go/simsiam/internal/schedule"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// TestScheduleMatchesGo: the graph's learning rate equals schedule.Cosine
// (which linear evaluation uses) at every step, warm-up or not.
func TestScheduleMatchesGo(t *testing.T) {
	for _, c := range []struct{ warmup, total int64 }{{0, 40}, {10, 50}, {5, 5}} {
		g := tfgraph.NewGraph()
		s := g.Root()
		step := s.Placeholder("step", tfgraph.Int64, []int64{})
		lr := Schedule(s.Child("lr"), step, 0.3, c.warmup, c.total)
		if g.Err() != nil {
			t.Fatal(g.Err())
		}
		sess := testutil.Session(t, g)
		for i := int64(0); i <= c.total+3; i++ {
			in, _ := tfgraph.NewTensor(i)
			out, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{step: in}, []tfgraph.Output{lr})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tfgraph.FloatScalar(out[0])
			if err != nil {
				t.Fatal(err)
			}
			want := schedule.Cosine(0.3, i, c.warmup, c.total)
			if math.Abs(float64(got)-want) > 1e-6 {
				t.Errorf("warm-up %d, total %d, step %d: graph %v, Go %v", c.warmup, c.total, i, got, want)
			}
		}
	}
}
