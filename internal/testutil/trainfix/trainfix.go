// Package trainfix holds the test fixtures that need the training step: a
// step with its session, and a training checkpoint of the tiny network.
//
// It imports train, so the tests of train itself (and of anything train
// imports) cannot use it; they use internal/testutil.
package trainfix

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// Step builds cfg's training step with o and a session for it with
// default options, closed when the test ends.
func Step(t testing.TB, cfg *configs.Config, o train.StepOptions) (*train.Step, *train.Session) {
	t.Helper()
	st, err := train.BuildStep(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := train.NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return st, sess
}

// WriteCheckpoint builds cfg's training step (a schedule of one step), runs
// steps training steps on views of standard normal noise drawn from
// PCG(seed1, seed2) (so BatchNorm statistics move away from 0 and 1), and
// saves the training checkpoint as prefix. With steps 0 the checkpoint has
// the initial weights. It returns errors rather than failing a test, for
// fixtures built once for a whole package.
func WriteCheckpoint(cfg *configs.Config, prefix string, steps int, seed1, seed2 uint64) error {
	st, err := train.BuildStep(cfg, train.StepOptions{StepsPerEpoch: 1, TotalSteps: 1})
	if err != nil {
		return err
	}
	sess, err := train.NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		return err
	}
	defer sess.Close()
	r := rand.New(rand.NewPCG(seed1, seed2))
	n, s, c := int64(cfg.Optim.BatchSize), int64(cfg.Data.ImageSize), int64(cfg.Data.Channels)
	for i := 0; i < steps; i++ {
		feeds := map[tfgraph.Output]*tfgraph.Tensor{}
		for _, ph := range []tfgraph.Output{st.X1, st.X2} {
			v := make([]float32, n*s*s*c)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			x, err := tfgraph.NewTensor(v)
			if err != nil {
				return err
			}
			if err := x.Reshape([]int64{n, s, s, c}); err != nil {
				return err
			}
			feeds[ph] = x
		}
		if _, err := sess.TrainStep(feeds); err != nil {
			return fmt.Errorf("training step %d of %d: %w", i+1, steps, err)
		}
	}
	if err := st.Saver.Save(sess.Session, prefix); err != nil {
		return fmt.Errorf("saving %s: %w", prefix, err)
	}
	return nil
}

// Checkpoint is WriteCheckpoint failing t on an error; it returns prefix.
func Checkpoint(t testing.TB, cfg *configs.Config, prefix string, steps int, seed1, seed2 uint64) string {
	t.Helper()
	if err := WriteCheckpoint(cfg, prefix, steps, seed1, seed2); err != nil {
		t.Fatal(err)
	}
	return prefix
}
