package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// newStep builds cfg's training step with o and a session for it, closed
// when the test ends. (The tests of train cannot use
// internal/testutil/trainfix, which imports train.)
func newStep(t testing.TB, cfg *configs.Config, o StepOptions) (*Step, *Session) {
	t.Helper()
	st, err := BuildStep(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return st, newSession(t, st)
}

// newSession starts a session with default options for st, closed when the
// test ends.
func newSession(t testing.TB, st *Step) *Session {
	t.Helper()
	sess, err := NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func randomBatch(r *rand.Rand, n, size, ch int) [][][][]float32 {
	b := make([][][][]float32, n)
	for i := range b {
		b[i] = make([][][]float32, size)
		for y := range b[i] {
			b[i][y] = make([][]float32, size)
			for x := range b[i][y] {
				b[i][y][x] = make([]float32, ch)
				for c := range b[i][y][x] {
					b[i][y][x][c] = float32(r.NormFloat64())
				}
			}
		}
	}
	return b
}

func TestStepRunsAndCounts(t *testing.T) {
	cfg := testutil.TinyConfig()
	st, err := BuildStep(cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"encoder/conv1/kernel", "encoder/layer1/0/bn1/gamma", "encoder/layer2/0/downsample/conv/kernel",
		"projector/fc1/kernel", "projector/bn3/moving_mean", "predictor/fc2/bias", "global_step"} {
		if st.Graph.Variable(name) == nil {
			t.Errorf("no variable %q", name)
		}
	}
	if st.Graph.Variable("projector/bn3/gamma") != nil {
		t.Error("last projector BN must have no affine parameters")
	}
	sess := newSession(t, st)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3; i++ {
		a, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		stats, err := sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Step != int64(i) {
			t.Errorf("step %d reported as %d", i, stats.Step)
		}
		if stats.Loss < -1 || stats.Loss > 1 {
			t.Errorf("loss %v outside [-1, 1]", stats.Loss)
		}
		t.Logf("%+v", stats)
	}
}

func TestNaNLossIsAnError(t *testing.T) {
	cfg := testutil.TinyConfig()
	st, sess := newStep(t, cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	r := rand.New(rand.NewPCG(1, 2))
	bad := randomBatch(r, 8, 16, 3)
	bad[0][0][0][0] = float32(math.NaN())
	a, _ := tfgraph.NewTensor(bad)
	b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	_, err := sess.TrainStep(map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b})
	if err == nil || !strings.Contains(err.Error(), "step 1: loss is NaN") {
		t.Fatalf("NaN input: err = %v", err)
	}
}
