package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// snapshot reads every variable of the step's graph as its raw bytes.
func snapshot(t *testing.T, sess *Session) map[string][]byte {
	t.Helper()
	vars := sess.Step.Graph.Variables()
	reads := make([]Output, len(vars))
	for i, v := range vars {
		reads[i] = v.Read()
	}
	out, err := sess.Run(nil, reads)
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string][]byte{}
	for i, v := range vars {
		var b bytesBuffer
		if _, err := out[i].WriteContentsTo(&b); err != nil {
			t.Fatal(err)
		}
		snap[v.Key] = b
	}
	return snap
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// changed lists the variables whose bytes differ between two snapshots.
func changed(a, b map[string][]byte) []string {
	var out []string
	for k, v := range a {
		if string(v) != string(b[k]) {
			out = append(out, k)
		}
	}
	return out
}

// TestSkippedStepChangesNothingButTheCounter: a step whose loss is NaN is
// reported (1-based step, what went non-finite) and its updates are
// skipped: every weight, momentum slot and BatchNorm moving statistic
// stays bit for bit what it was, global_step still advances, and the next
// finite step trains again.
func TestSkippedStepChangesNothingButTheCounter(t *testing.T) {
	cfg := testutil.TinyConfig()
	st, sess := newStep(t, cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10})
	r := rand.New(rand.NewPCG(1, 2))
	feeds := func(nan bool) map[Output]*tfgraph.Tensor {
		x := randomBatch(r, 8, 16, 3)
		if nan {
			x[3][2][1][0] = float32(math.NaN())
		}
		a, _ := tfgraph.NewTensor(x)
		b, _ := tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		return map[Output]*tfgraph.Tensor{st.X1: a, st.X2: b}
	}
	// One real step first, so the momentum slots are not all zero.
	if _, err := sess.TrainStep(feeds(false)); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, sess)
	stats, err := sess.TrainStep(feeds(true))
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 2 || len(nf.What) == 0 || nf.What[0] != "loss" || !stats.Skipped {
		t.Fatalf("NaN step: stats %+v, err %v; want a NonFiniteError for step 2 naming the loss", stats, err)
	}
	after := snapshot(t, sess)
	diff := changed(before, after)
	for _, k := range diff {
		if k != "global_step" && k != "epoch" {
			t.Errorf("%s changed in a skipped step", k)
		}
	}
	out, _ := sess.Run(nil, []Output{st.GlobalStep.Read()})
	if n, _ := tfgraph.Int64Scalar(out[0]); n != 2 {
		t.Errorf("global_step %d after two steps, want 2", n)
	}
	if _, err := sess.TrainStep(feeds(false)); err != nil {
		t.Fatalf("finite step after a skipped one: %v", err)
	}
	moved := changed(after, snapshot(t, sess))
	for _, k := range []string{"encoder/conv1/kernel", "optimizer/encoder/conv1/kernel/momentum", "encoder/bn1/moving_mean", "global_step"} {
		found := false
		for _, m := range moved {
			found = found || m == k
		}
		if !found {
			t.Errorf("%s did not change in the finite step after the skip", k)
		}
	}
	t.Logf("skipped step changed %v; the next step changed %d of %d variables", diff, len(moved), len(after))
}

// TestLossScaling: with runtime.precision fp16 the step keeps
// loss_scale/scale; finite steps leave the update equal to fp32's (the
// scale is a power of two) and double the scale after GrowthSteps of
// them; gradients that overflow skip the update without an error and halve
// the scale.
func TestLossScaling(t *testing.T) {
	build := func(precision string) (*Session, *Step) {
		cfg := testutil.TinyConfig()
		cfg.Runtime.Precision = precision
		st, sess := newStep(t, cfg, StepOptions{StepsPerEpoch: 10, TotalSteps: 10, LossScaleGrowthSteps: 2})
		return sess, st
	}
	fp16, st := build("fp16")
	fp32, st32 := build("fp32")
	if st.Scaler == nil || st.Graph.Variable("loss_scale/scale") == nil || st32.Scaler != nil {
		t.Fatal("want loss_scale/scale with fp16 only")
	}
	setScale := st.Graph.Root().Child("test")
	scaleIn := setScale.Placeholder("scale", tfgraph.Float, []int64{})
	assign := st.Scaler.Scale.AssignOp(setScale, "assign", scaleIn)
	r := rand.New(rand.NewPCG(5, 6))
	batches := make([][2]*tfgraph.Tensor, 4)
	for i := range batches {
		batches[i][0], _ = tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
		batches[i][1], _ = tfgraph.NewTensor(randomBatch(r, 8, 16, 3))
	}
	wantScales := []float32{InitialLossScale, 2 * InitialLossScale, 2 * InitialLossScale}
	for i, want := range wantScales {
		s16, err := fp16.TrainStep(map[Output]*tfgraph.Tensor{st.X1: batches[i][0], st.X2: batches[i][1]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fp32.TrainStep(map[Output]*tfgraph.Tensor{st32.X1: batches[i][0], st32.X2: batches[i][1]}); err != nil {
			t.Fatal(err)
		}
		if s16.LossScale != want || s16.Skipped {
			t.Errorf("step %d: loss scale %v (skipped %v), want %v", i+1, s16.LossScale, s16.Skipped, want)
		}
	}
	a, b := snapshot(t, fp16), snapshot(t, fp32)
	for _, k := range changed(a, b) {
		if _, ok := b[k]; ok { // loss_scale/* exist in fp16 only
			t.Errorf("%s differs between fp16 (on a CPU: loss scaling only) and fp32", k)
		}
	}
	// Gradients that overflow when scaled, with a finite loss: a predictor
	// output shrunk to ~1e-10 (the cosine does not care) has gradients
	// ~1e8, which a scale of 2^110 takes past float32's maximum.
	var shrink []*tfgraph.Operation
	for _, k := range []string{"predictor/fc2/kernel", "predictor/fc2/bias"} {
		v := st.Graph.Variable(k)
		shrink = append(shrink, v.AssignOp(setScale, "shrink", setScale.Mul(v.Read(), setScale.Const("tiny", float32(1e-10)))))
	}
	huge, _ := tfgraph.NewTensor(float32(math.Ldexp(1, 110)))
	if _, err := fp16.Run(map[Output]*tfgraph.Tensor{scaleIn: huge}, nil, append(shrink, assign)...); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, fp16)
	s, err := fp16.TrainStep(map[Output]*tfgraph.Tensor{st.X1: batches[3][0], st.X2: batches[3][1]})
	if err != nil {
		t.Fatalf("overflowing step: %v (want a skip without an error)", err)
	}
	if !s.Skipped || s.LossScale != float32(math.Ldexp(1, 109)) || math.IsNaN(float64(s.Loss)) {
		t.Errorf("overflowing step: skipped %v, scale %v, loss %v; want skipped, 2^109 and a finite loss", s.Skipped, s.LossScale, s.Loss)
	}
	for _, k := range changed(before, snapshot(t, fp16)) {
		if k != "global_step" && k != "epoch" && k != "loss_scale/scale" && k != "loss_scale/good_steps" {
			t.Errorf("%s changed in an overflowing step", k)
		}
	}
}
