package model

import (
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
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
