package model

import (
	"math"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// tinyMethodConfig is a CIFAR-stem ResNet-18 of width 4 with 8-wide heads.
func tinyMethodConfig() *configs.Config {
	c := configs.Default()
	c.Data.ImageSize, c.Data.Channels = 8, 1
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 4
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 8, 8, 4
	return &c
}

// TestNewMethodUnknown checks that an unknown method is an error naming the
// key and the methods there are.
func TestNewMethodUnknown(t *testing.T) {
	_, err := NewMethod("moco", tfgraph.NewGraph(), tinyMethodConfig(), 1)
	if err == nil || !strings.Contains(err.Error(), "method.name") || !strings.Contains(err.Error(), "simsiam") {
		t.Errorf("err = %v, want one naming method.name and the methods", err)
	}
}

// TestMethodsDeclare checks what every registered method declares: its
// name, an encoder, a tower whose loss is a float scalar, and the z_std
// metric.
func TestMethodsDeclare(t *testing.T) {
	for _, name := range MethodNames() {
		t.Run(name, func(t *testing.T) {
			cfg := tinyMethodConfig()
			g := tfgraph.NewGraph()
			m, err := NewMethod(name, g, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != name {
				t.Errorf("Name() = %q", m.Name())
			}
			if m.Net() == nil || m.Net().Backbone == nil || m.Net().Projector == nil {
				t.Fatal("no encoder or projector")
			}
			s := g.Root()
			x1 := s.Placeholder("x1", tfgraph.Float, []int64{-1, 8, 8, 1})
			x2 := s.Placeholder("x2", tfgraph.Float, []int64{-1, 8, 8, 1})
			to := m.Tower(s.Child("tower0"), Views{X1: x1, X2: x2}, tfgraph.Training(tfgraph.NewUpdates()))
			if err := g.Err(); err != nil {
				t.Fatal(err)
			}
			if to.Loss.Op == nil || to.Loss.Shape().NumDimensions() != 0 {
				t.Errorf("loss %v is not a scalar", to.Loss)
			}
			if _, ok := to.Metric(ZStdMetric); !ok {
				t.Errorf("no %s metric among %v", ZStdMetric, to.Metrics)
			}
		})
	}
}

// TestSimSiamParamGroups checks SimSiam's parameter groups: with
// optim.fix_pred_lr the predictor's variables and only they are FixedLR;
// without it every variable is scheduled.
func TestSimSiamParamGroups(t *testing.T) {
	for _, fix := range []bool{true, false} {
		cfg := tinyMethodConfig()
		cfg.Optim.FixPredLR = fix
		g := tfgraph.NewGraph()
		m, err := NewMethod("simsiam", g, cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		var fixed int
		for _, v := range g.Trainable() {
			want := ScheduledLR
			if fix && strings.HasPrefix(v.Key, "predictor/") {
				want = FixedLR
				fixed++
			}
			if got := m.ParamGroup(v.Key); got != want {
				t.Errorf("fix_pred_lr %v: %s in group %d, want %d", fix, v.Key, got, want)
			}
		}
		if fix && fixed == 0 {
			t.Error("no predictor variable")
		}
		if m.StateUpdates(g.Root(), UpdateContext{}) != nil {
			t.Error("SimSiam has state updates")
		}
	}
}

// pairLoss builds a loss of two [N, D] inputs in scope s.
type pairLoss func(s *tfgraph.Scope, z1, z2 tfgraph.Output) tfgraph.Output

// runPairLoss evaluates build on z1, z2 (held in variables) and returns the
// loss and its gradients with respect to z1 and z2.
func runPairLoss(t *testing.T, build pairLoss, z1, z2 [][]float32) (float64, [][]float32, [][]float32) {
	t.Helper()
	g := tfgraph.NewGraph()
	s := g.Root()
	v := func(name string, x [][]float32) *tfgraph.Variable {
		init := func(s *tfgraph.Scope, _ []int64, _ tfgraph.Output) tfgraph.Output { return s.Const("value", x) }
		return s.Var(name, []int64{int64(len(x)), int64(len(x[0]))}, init, 0)
	}
	v1, v2 := v("z1", z1), v("z2", z2)
	loss := build(s.Child("loss"), v1.Read(), v2.Read())
	grads, err := g.Gradients("grads", loss, []*tfgraph.Variable{v1, v2})
	if err != nil {
		t.Fatal(err)
	}
	init := g.InitOp("init")
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	sess := testutil.Session(t, g, init)
	res, err := sess.Run(nil, append([]tfgraph.Output{loss}, grads...))
	if err != nil {
		t.Fatal(err)
	}
	return float64(res[0].Value().(float32)), res[1].Value().([][]float32), res[2].Value().([][]float32)
}

// checkPairLoss compares build with the float64 reference ref on random
// inputs: the loss within tol (relative to max(1, |ref|)), the gradients
// against ref's central differences (relative L2 error below 1e-3), and a
// small step against the gradient lowers ref's loss (the gradient points
// uphill).
func checkPairLoss(t *testing.T, name string, build pairLoss, ref func(z1, z2 [][]float64) float64, z1, z2 [][]float32, tol float64) {
	t.Helper()
	f64 := func(x [][]float32) [][]float64 {
		out := make([][]float64, len(x))
		for i, row := range x {
			out[i] = make([]float64, len(row))
			for j, v := range row {
				out[i][j] = float64(v)
			}
		}
		return out
	}
	got, g1, g2 := runPairLoss(t, build, z1, z2)
	a, b := f64(z1), f64(z2)
	want := ref(a, b)
	if d := math.Abs(got - want); d > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: loss %.8g, float64 reference %.8g (|diff| %.2g)", name, got, want, d)
	}
	// Central differences of the reference, and the descent step.
	const h = 1e-6
	var num2, diff2 float64
	step := 1e-3
	a2, b2 := f64(z1), f64(z2)
	var gnorm2 float64
	for _, gs := range [][][]float32{g1, g2} {
		for _, row := range gs {
			for _, v := range row {
				gnorm2 += float64(v) * float64(v)
			}
		}
	}
	if gnorm2 == 0 {
		t.Fatalf("%s: zero gradient", name)
	}
	for _, pair := range []struct {
		x    [][]float64
		g    [][]float32
		next [][]float64
	}{{a, g1, a2}, {b, g2, b2}} {
		for i := range pair.x {
			for j := range pair.x[i] {
				old := pair.x[i][j]
				pair.x[i][j] = old + h
				up := ref(a, b)
				pair.x[i][j] = old - h
				down := ref(a, b)
				pair.x[i][j] = old
				num := (up - down) / (2 * h)
				num2 += num * num
				d := num - float64(pair.g[i][j])
				diff2 += d * d
				pair.next[i][j] -= step * float64(pair.g[i][j]) / math.Sqrt(gnorm2)
			}
		}
	}
	if rel := math.Sqrt(diff2 / math.Max(num2, 1e-12)); rel > 1e-3 {
		t.Errorf("%s: gradient relative error %.2g against central differences", name, rel)
	}
	if after := ref(a2, b2); !(after < want) {
		t.Errorf("%s: a step against the gradient moves the loss from %.8g to %.8g", name, want, after)
	}
}

// TestMethodRegistryMatchesConfig checks that every method the config
// accepts (configs.Methods) has a builder and every builder is accepted.
func TestMethodRegistryMatchesConfig(t *testing.T) {
	got, want := strings.Join(MethodNames(), ","), strings.Join(configs.Methods(), ",")
	if got != want {
		t.Errorf("registered methods %s, configs.Methods %s", got, want)
	}
}
