// Command export is the Go half of tests/python/test_savedmodel.py.
//
//	export -mode export -out DIR
//
// builds a tiny SimSiam network (ResNet-18, CIFAR stem, width 4, 16x16
// images), trains it for 0 steps, saves the checkpoint DIR/ckpt/ckpt-0,
// exports DIR/model with package export, loads it back with package serve
// and writes fixed uint8 images (DIR/images.npy, deliberately not 16x16 so
// the in-graph resize runs) with Go's embeddings (DIR/embeddings.npy) and
// projections (DIR/projection.npy).
//
//	export -mode savedmodel -model DIR -inputs X.npy -out OUTDIR [-signature S] [-input NAME]
//
// loads any SavedModel (one written by Keras, say) with package serve, feeds
// the float32 array X.npy to input NAME of signature S and writes every
// output of the signature as OUTDIR/go_<output>.npy.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/serve"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

func main() {
	mode := flag.String("mode", "export", "export or savedmodel")
	out := flag.String("out", "", "output directory")
	modelDir := flag.String("model", "", "SavedModel directory (savedmodel mode)")
	inputs := flag.String("inputs", "", "float32 .npy input (savedmodel mode)")
	sig := flag.String("signature", tfgraph.DefaultSignature, "signature (savedmodel mode)")
	input := flag.String("input", "images", "input name (savedmodel mode)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "export: -out is required")
		os.Exit(2)
	}
	var err error
	switch *mode {
	case "export":
		err = runExport(*out)
	case "savedmodel":
		err = runSavedModel(*modelDir, *inputs, *sig, *input, *out)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

func tinyConfig() *configs.Config {
	c := configs.Default()
	c.Seed = 17
	c.Data.ImageSize, c.Data.Channels = 16, 3
	c.Data.Mean = []float64{0.48, 0.46, 0.41}
	c.Data.Std = []float64{0.23, 0.22, 0.24}
	c.Model.Arch, c.Model.Stem, c.Model.Width = "resnet18", "cifar", 4
	c.Model.ProjDim, c.Model.ProjHidden, c.Model.PredHidden = 16, 16, 8
	c.Model.ZeroInitResidual = false // non-trivial residual branches
	c.Optim.BatchSize = 4
	return &c
}

func runExport(out string) error {
	cfg := tinyConfig()
	st, err := train.BuildStep(cfg, train.StepOptions{StepsPerEpoch: 1, TotalSteps: 1})
	if err != nil {
		return err
	}
	sess, err := train.NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		return err
	}
	defer sess.Close()
	ckpt := filepath.Join(out, "ckpt", "ckpt-0")
	if err := st.Saver.Save(sess.Session, ckpt); err != nil {
		return err
	}
	modelDir := filepath.Join(out, "model")
	if err := export.Export(cfg, ckpt, modelDir, true); err != nil {
		return err
	}
	m, err := serve.Load(modelDir, serve.WithBatchSize(4))
	if err != nil {
		return err
	}
	defer m.Close()

	const n, h, w, c = 6, 20, 24, 3
	r := rand.New(rand.NewPCG(2024, 7))
	pix := make([]byte, n*h*w*c)
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	emb, err := m.Embed(pix, n, h, w, c)
	if err != nil {
		return err
	}
	it, err := tfgraph.NewTensor(pix)
	if err != nil {
		return err
	}
	if err := it.Reshape([]int64{n, h, w, c}); err != nil {
		return err
	}
	res, err := m.Run(export.SigProjection, map[string]*tfgraph.Tensor{export.InputImages: it})
	if err != nil {
		return err
	}
	proj, ok := res[export.OutProjection].Value().([][]float32)
	if !ok {
		return errors.New("projection is not a float32 matrix")
	}
	if err := serve.WriteNPYUint8(filepath.Join(out, "images.npy"), []int{n, h, w, c}, pix); err != nil {
		return err
	}
	if err := serve.WriteNPY(filepath.Join(out, "embeddings.npy"), emb); err != nil {
		return err
	}
	if err := serve.WriteNPY(filepath.Join(out, "projection.npy"), proj); err != nil {
		return err
	}
	info, err := json.MarshalIndent(map[string]any{
		"checkpoint": ckpt, "model": modelDir, "feature_dim": m.Meta.FeatureDim,
		"proj_dim": m.Meta.ProjDim, "width": cfg.Model.Width, "tf_version": tfgraph.Version(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "info.json"), info, 0o644)
}

func runSavedModel(dir, inputs, sig, input, out string) error {
	if dir == "" || inputs == "" {
		return errors.New("savedmodel mode needs -model and -inputs")
	}
	arr, err := serve.ReadNPY(inputs)
	if err != nil {
		return err
	}
	if arr.Descr != "<f4" {
		return fmt.Errorf("%s: want float32 inputs, got %s", inputs, arr.Descr)
	}
	t, err := tfgraph.NewTensor(arr.Float32)
	if err != nil {
		return err
	}
	shape := make([]int64, len(arr.Shape))
	for i, d := range arr.Shape {
		shape[i] = int64(d)
	}
	if err := t.Reshape(shape); err != nil {
		return err
	}
	m, err := serve.Load(dir)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := m.Run(sig, map[string]*tfgraph.Tensor{input: t})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, v := range res {
		if v.DataType() != tfgraph.Float {
			return fmt.Errorf("output %s is %s, want float32", name, tfgraph.DTypeName(v.DataType()))
		}
		dims := v.Shape()
		shape := make([]int, len(dims))
		count := 1
		for i, d := range dims {
			shape[i] = int(d)
			count *= int(d)
		}
		flat, err := flatten(v.Value(), count)
		if err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
		if err := serve.WriteNPYFloat32(filepath.Join(out, "go_"+name+".npy"), shape, flat); err != nil {
			return err
		}
	}
	return nil
}

// flatten collects the float32 values of a nested slice in C order.
func flatten(v any, count int) ([]float32, error) {
	out := make([]float32, 0, count)
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case float32:
			out = append(out, x)
		case []float32:
			out = append(out, x...)
		case [][]float32:
			for _, r := range x {
				out = append(out, r...)
			}
		case [][][]float32:
			for _, r := range x {
				if err := walk(r); err != nil {
					return err
				}
			}
		case [][][][]float32:
			for _, r := range x {
				if err := walk(r); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported value %T", v)
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	if len(out) != count {
		return nil, fmt.Errorf("%d values, shape says %d", len(out), count)
	}
	return out, nil
}
