// Command lossdump writes what the Python loss parity test
// (tests/python/test_method_losses.py) compares against its own TensorFlow
// reference: two random projections z1, z2 (BYOL: the online predictions,
// with the target projections t1, t2), a method's loss of them as the Go
// graph computes it and its gradients with respect to z1 and z2, as a
// TensorFlow checkpoint, plus the settings as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

func main() {
	out := flag.String("out", "", "output directory")
	method := flag.String("method", "simclr", "loss: simclr (NT-Xent), barlow_twins or byol")
	n := flag.Int("n", 16, "batch size")
	d := flag.Int("d", 32, "projection dimension")
	param := flag.Float64("param", 0.5, "simclr: the temperature; barlow_twins: lambda; byol: unused")
	seed := flag.Uint64("seed", 1, "seed of the random projections")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "lossdump: -out is required")
		os.Exit(2)
	}
	if err := run(*out, *method, *n, *d, *param, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "lossdump:", err)
		os.Exit(1)
	}
}

func run(out, method string, n, d int, param float64, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 99))
	rows := func() [][]float32 {
		m := make([][]float32, n)
		for i := range m {
			m[i] = make([]float32, d)
			for j := range m[i] {
				m[i][j] = float32(r.NormFloat64())
			}
		}
		return m
	}
	x1, x2 := rows(), rows()
	g := tfgraph.NewGraph()
	s := g.Root()
	v := func(name string, x [][]float32) *tfgraph.Variable {
		init := func(s *tfgraph.Scope, _ []int64, _ tfgraph.Output) tfgraph.Output { return s.Const("value", x) }
		return s.Var(name, []int64{int64(n), int64(d)}, init, 0)
	}
	z1, z2 := v("z1", x1), v("z2", x2)
	tensors := map[string]*tfgraph.Tensor{}
	var loss tfgraph.Output
	switch method {
	case "simclr":
		loss = model.NTXentLoss(s.Child("loss"), z1.Read(), z2.Read(), param)
	case "barlow_twins":
		loss = model.BarlowTwinsLoss(s.Child("loss"), z1.Read(), z2.Read(), param)
	case "byol":
		// z1, z2 are the online predictions; t1, t2 the target projections
		// (constants: the loss stops their gradient).
		t1, t2 := rows(), rows()
		for name, x := range map[string][][]float32{"t1": t1, "t2": t2} {
			t, err := tfgraph.NewTensor(x)
			if err != nil {
				return err
			}
			tensors[name] = t
		}
		loss = model.BYOLLoss(s.Child("loss"), z1.Read(), z2.Read(), s.Const("t1", t1), s.Const("t2", t2))
	default:
		return fmt.Errorf("-method %q: want simclr, barlow_twins or byol", method)
	}
	grads, err := g.Gradients("grads", loss, []*tfgraph.Variable{z1, z2})
	if err != nil {
		return err
	}
	init := g.InitOp("init")
	if err := g.Err(); err != nil {
		return err
	}
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
	if err != nil {
		return err
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, init); err != nil {
		return err
	}
	res, err := sess.Run(nil, []tfgraph.Output{z1.Read(), z2.Read(), loss, grads[0], grads[1]})
	if err != nil {
		return err
	}
	names := []string{"z1", "z2", "loss", "grad/z1", "grad/z2"}
	for i, name := range names {
		tensors[name] = res[i]
	}
	if err := tfgraph.WriteTensors(filepath.Join(out, "outputs"), tensors); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"method": method, "n": n, "d": d, "param": param, "seed": seed}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "settings.json"), b, 0o644)
}
