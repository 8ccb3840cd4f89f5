// Command dump writes what the Python parity test compares against its own
// TensorFlow reference: the Go graph's initial weights, one fixed batch, the
// forward outputs and gradients at the initial weights, and every variable
// after three training steps, all as TensorFlow checkpoints, plus the settings
// as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

func main() {
	out := flag.String("out", "", "output directory")
	arch := flag.String("arch", "resnet18", "backbone")
	stem := flag.String("stem", "cifar", "stem")
	width := flag.Int("width", 8, "backbone width")
	size := flag.Int("size", 16, "image size")
	batch := flag.Int("batch", 8, "batch size")
	steps := flag.Int("steps", 3, "training steps")
	stopGrad := flag.Bool("stop-gradient", true, "stop-gradient on the targets")
	precision := flag.String("precision", "fp32", "session precision: fp32 or bf16 (bf16 needs TF_ENABLE_ONEDNN_OPTS=1)")
	method := flag.String("method", "simsiam", "method.name: simsiam, simclr, barlow_twins or byol")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "dump: -out is required")
		os.Exit(2)
	}
	if err := run(*out, *method, *arch, *stem, *width, *size, *batch, *steps, *stopGrad, tfgraph.Precision(*precision)); err != nil {
		fmt.Fprintln(os.Stderr, "dump:", err)
		os.Exit(1)
	}
}

func run(out, method, arch, stem string, width, size, batch, steps int, stopGrad bool, precision tfgraph.Precision) error {
	c := configs.Default()
	c.Seed = 7
	c.Method.Name = method
	if method == "simclr" {
		c.Method.SimCLR.Temperature = 0.5
	}
	if method == "byol" {
		c.Method.BYOL.TauBase = 0.9 // far from 1: three steps move the target visibly
	}
	if method != "simsiam" {
		c.Optim.FixPredLR = false // SimSiam's key: the other methods schedule every rate
	}
	c.Data.ImageSize, c.Data.Channels = size, 3
	c.Model.Arch, c.Model.Stem, c.Model.Width = arch, stem, width
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 32, 32, 16
	c.Model.StopGradient = stopGrad
	c.Optim.BatchSize = batch
	c.Optim.BaseLR = 2.0 // large, so three steps move the weights visibly
	c.Optim.WeightDecay = 5e-4
	total := int64(10)
	st, err := train.BuildStep(&c, train.StepOptions{StepsPerEpoch: total, TotalSteps: total})
	if err != nil {
		return err
	}
	opts := tfgraph.SessionOptions{Precision: precision}
	sess, err := train.NewSession(st, opts)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := st.Saver.Save(sess.Session, filepath.Join(out, "init")); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	mk := func() []float32 {
		v := make([]float32, batch*size*size*3)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	x1, err := shaped(mk(), int64(batch), int64(size), int64(size), 3)
	if err != nil {
		return err
	}
	x2, err := shaped(mk(), int64(batch), int64(size), int64(size), 3)
	if err != nil {
		return err
	}
	feeds := map[tfgraph.Output]*tfgraph.Tensor{st.X1: x1, st.X2: x2}
	t0 := st.Towers[0]
	fetch := []tfgraph.Output{t0.V1.Z, t0.V2.Z, st.Loss, st.ZStd}
	names := []string{"z1", "z2", "loss", "z_std"}
	if t0.V1.P.Op != nil { // a method with a predictor
		fetch = append(fetch, t0.V1.P, t0.V2.P)
		names = append(names, "p1", "p2")
	}
	fetch = append(fetch, st.Grads...)
	for _, v := range st.Trainable {
		names = append(names, "grad/"+v.Key)
	}
	res, err := sess.Run(feeds, fetch)
	if err != nil {
		return err
	}
	tensors := map[string]*tfgraph.Tensor{"x1": x1, "x2": x2}
	for i, n := range names {
		tensors[n] = res[i]
	}
	if err := tfgraph.WriteTensors(filepath.Join(out, "outputs"), tensors); err != nil {
		return err
	}
	// The step as TensorFlow runs it (after grappler), on a copy of the
	// graph: how many nodes run in bfloat16, and which fused kernels fire.
	nodes, err := tfgraph.OptimizedGraph(st.Graph, opts, feeds, st.Init, st.Train)
	if err != nil {
		return err
	}
	internal := map[string]int{}
	var lossBF16 []string // forward loss ops (cosine, l2 normalisation) that run in bfloat16
	for _, n := range nodes {
		if strings.Contains(n.Name, "/loss/") && !strings.HasPrefix(n.Name, "gradients") && tfgraph.CountOfType([]tfgraph.Node{n}, "DT_BFLOAT16") > 0 {
			lossBF16 = append(lossBF16, n.Op+" "+n.Name)
		}
		if strings.HasPrefix(n.Op, "_") && n.Op != "_Arg" && n.Op != "_Retval" {
			internal[n.Op]++
		}
	}
	losses := []float32{}
	for i := 0; i < steps; i++ {
		s, err := sess.TrainStep(feeds)
		if err != nil {
			return err
		}
		losses = append(losses, s.Loss)
	}
	if err := st.Saver.Save(sess.Session, filepath.Join(out, "after")); err != nil {
		return err
	}
	settings := map[string]any{
		"arch": arch, "stem": stem, "width": width, "size": size, "batch": batch, "steps": steps,
		"proj_dim": c.Model.ProjDim, "proj_hidden": c.Model.ProjHidden, "proj_layers": c.Model.ProjLayers,
		"pred_hidden": c.Model.PredHidden, "bn_eps": c.Model.BNEps, "bn_momentum": c.Model.BNMomentum,
		"stop_gradient": stopGrad, "lr": c.LR(), "momentum": c.Optim.Momentum, "weight_decay": c.Optim.WeightDecay,
		"fix_pred_lr": c.Optim.FixPredLR, "total_steps": total, "losses": losses,
		"method": method, "temperature": c.Method.SimCLR.Temperature, "lambda": c.Method.BarlowTwins.Lambda, "tau_base": c.Method.BYOL.TauBase,
		"precision": string(precision), "optimized_nodes": len(nodes),
		"bf16_nodes": tfgraph.CountOfType(nodes, "DT_BFLOAT16"), "internal_ops": internal, "loss_bf16_nodes": lossBF16,
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "settings.json"), b, 0o644)
}

func shaped(v []float32, dims ...int64) (*tfgraph.Tensor, error) {
	t, err := tfgraph.NewTensor(v)
	if err != nil {
		return nil, err
	}
	return t, t.Reshape(dims)
}
