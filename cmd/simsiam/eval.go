package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/runfolder"
	"github.com/simsiam-go/simsiam/serve"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

func cmdKNN(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("knn", `Usage: simsiam knn --checkpoint CKPT [flags]

Weighted kNN (k=train.knn_k, temperature train.knn_temperature) on the
l2-normalised backbone features: eval.train_split is the memory bank,
eval.test_split is classified. --checkpoint random measures the randomly
initialised network, --pixels the raw pixels (baselines). --k 1,20,200
scores several k from one pass (features and similarities computed once).

Examples:
  simsiam knn --checkpoint runs/fashion_mnist_demo/checkpoints
  simsiam knn --checkpoint runs/fashion_mnist_demo/checkpoints --k 1,20,200
  simsiam knn --checkpoint random
  simsiam knn --pixels

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	ckpt := fs.String("checkpoint", "", "checkpoint prefix or directory (newest ckpt-N), or \"random\"")
	pixels := fs.Bool("pixels", false, "classify raw pixels instead of features")
	var ks intList
	fs.Var(&ks, "k", "neighbour counts, comma-separated (default: train.knn_k)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		ks = intList{cfg.Train.KNNK}
	}
	if !*pixels && *ckpt == "" {
		return usageError{errors.New("knn: --checkpoint (or --pixels) is required")}
	}
	bank, test, err := eval.OpenEvalDataContext(ctx, cfg)
	if err != nil {
		return err
	}
	var bf, tf []float32
	d := bank.ImageSize()
	if *pixels {
		bf, tf = eval.PixelFeatures(bank), eval.PixelFeatures(test)
	} else {
		path := *ckpt
		if path == "random" {
			path = ""
		} else if path, err = eval.ResolveCheckpoint(path); err != nil {
			return err
		}
		enc, err := eval.NewEncoder(cfg, path)
		if err != nil {
			return err
		}
		defer enc.Close()
		enc.Log = stderr
		if bf, err = enc.FeaturesContext(ctx, bank, eval.FeatureBatch); err != nil {
			return err
		}
		if tf, err = enc.FeaturesContext(ctx, test, eval.FeatureBatch); err != nil {
			return err
		}
		d = enc.Dim
	}
	nc := max(bank.NumClasses, test.NumClasses)
	scores, err := eval.KNNMulti(ctx, bf, bank.Labels, d, tf, test.Labels, nc, ks, cfg.Train.KNNTemperature)
	if err != nil {
		return err
	}
	for _, s := range scores {
		fmt.Fprintf(stdout, "kNN top-1 %s top-5 %s (k=%d, T=%g)\n", pct(s.Top1), pct(s.Top5), s.K, cfg.Train.KNNTemperature)
	}
	measuredOn(stdout)
	return nil
}

func cmdLinearEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("linear-eval", `Usage: simsiam linear-eval --checkpoint CKPT [flags]

Trains a linear classifier on the frozen backbone (inference-mode BN) with
the linear.* settings, reports top-1/top-5 on eval.test_split and saves the
classifier with the backbone as one SavedModel (signature "classify") in
OUT/linear/saved_model.

--checkpoint random trains on the randomly initialised network and --pixels
on raw pixels (the baselines; nothing is saved for --pixels).

Examples:
  simsiam linear-eval --checkpoint runs/fashion_mnist_demo/checkpoints
  simsiam linear-eval --preset cifar10_linear --checkpoint runs/cifar10_resnet18/checkpoints
  simsiam linear-eval --pixels

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	ckpt := fs.String("checkpoint", "", "pretraining checkpoint prefix or directory, or \"random\"")
	out := fs.String("out", "", "output directory (default: output_dir of the config)")
	pixels := fs.Bool("pixels", false, "train the classifier on raw pixels instead of features")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	if *pixels {
		res, err := eval.LinearEvalPixels(ctx, cfg, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "linear evaluation on raw pixels: top-1 %s top-5 %s (%d epochs)\n", pct(res.Top1), pct(res.Top5), res.Epochs)
		measuredOn(stdout)
		return nil
	}
	if *ckpt == "" {
		return usageError{errors.New("linear-eval: --checkpoint is required (\"random\" for the random-init baseline)")}
	}
	path := *ckpt
	if path == "random" {
		path = ""
	} else if path, err = eval.ResolveCheckpoint(path); err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = cfg.OutputDir
	}
	// linear/ goes into the folder: not while a run (or another
	// linear-eval) writes there.
	lock, err := runfolder.Dir(dir).Lock()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := tidySavedModel(runfolder.Dir(dir).LinearSavedModel(), stderr); err != nil {
		return err
	}
	res, err := eval.LinearEval(ctx, cfg, path, dir, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "linear evaluation: top-1 %s top-5 %s (%d epochs, %s)\n", pct(res.Top1), pct(res.Top5), res.Epochs, res.Mode)
	measuredOn(stdout)
	if res.Checkpoint != "" {
		sm := runfolder.Dir(dir).LinearSavedModel()
		if err := untilDone(ctx, "exporting the classifier", func() error {
			return export.ExportClassifier(cfg, res.Checkpoint, sm, true, export.Classifier{})
		}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "classifier SavedModel: %s\n", sm)
	}
	return nil
}

// untilDone runs f and returns its error, or ctx's as soon as ctx is done:
// an export is TensorFlow calls that cannot be stopped, so it is abandoned
// and ends with the process. It writes into a temporary directory renamed
// into place at the end, so its output is either whole or absent (a
// DIR.tmp-* directory may remain).
func untilDone(ctx context.Context, what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", `Usage: simsiam export --checkpoint CKPT --out DIR [flags]

Writes a SavedModel (tag "serve") with signatures serving_default
(uint8 images -> embedding) and projection, from a training checkpoint.
The config must describe the checkpoint's network (use the run's config.yaml).

Example:
  simsiam export --config runs/fashion_mnist_demo/config.yaml --checkpoint runs/fashion_mnist_demo/checkpoints --out /tmp/encoder

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	ckpt := fs.String("checkpoint", "", "checkpoint prefix or directory")
	out := fs.String("out", "", "SavedModel directory to write")
	overwrite := fs.Bool("overwrite", false, "replace an existing SavedModel")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return usageError{errors.New("export: --checkpoint and --out are required")}
	}
	cfg, err := cf.load(false)
	if err != nil {
		return err
	}
	path, err := eval.ResolveCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	// An export into a run folder (runs/x/saved_model) holds its lock.
	if parent := runfolder.Dir(filepath.Dir(filepath.Clean(*out))); parent.IsRun() {
		lock, err := parent.Lock()
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	if err := tidySavedModel(*out, stderr); err != nil {
		return err
	}
	o := export.Options{Overwrite: *overwrite, Projection: true, Log: stderr}
	if err := untilDone(ctx, "export", func() error { return export.ExportWith(cfg, path, *out, o) }); err != nil {
		if ctx.Err() != nil {
			// The abandoned export writes into OUT.tmp-*: remove it now (the
			// next export also does).
			tfgraph.RemoveSavedModelTemps(*out)
		}
		return err
	}
	fmt.Fprintf(stdout, "SavedModel written to %s\n", *out)
	return nil
}

// listImages resolves --images: a directory is an image folder (searched
// recursively), a file one image. A folder without images is an error, so
// embed and predict never succeed on nothing.
func listImages(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	paths, err := serve.ListImages(path)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no images in %s (looked for .png, .jpg and .jpeg files in it and its subfolders)", path)
	}
	return paths, nil
}

func cmdEmbed(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("embed", `Usage: simsiam embed --model DIR --images PATH --out FILE.npy

Embeds images (a file, or a folder searched recursively for .png/.jpg) with
a SavedModel's serving_default signature and writes a float32 [N, D] .npy
(rows in the order of FILE.txt, written beside it).

Example:
  simsiam embed --model runs/fashion_mnist_demo/saved_model --images photos/ --out emb.npy

Flags:
`, stderr)
	model := fs.String("model", "", "SavedModel directory")
	images := fs.String("images", "", "image file or folder")
	out := fs.String("out", "", "output .npy file")
	precision := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	opts, err := servePrecision(*precision, stderr)
	if err != nil {
		return err
	}
	if *model == "" || *images == "" || *out == "" {
		return usageError{errors.New("embed: --model, --images and --out are required")}
	}
	paths, err := listImages(*images)
	if err != nil {
		return err
	}
	m, err := serve.Load(*model, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	imgs, err := m.ReadFiles(paths)
	if err != nil {
		return err
	}
	emb, err := m.EmbedImages(imgs)
	if err != nil {
		return err
	}
	if len(emb) != len(paths) || len(emb[0]) == 0 {
		return fmt.Errorf("embed: %d embeddings for %d images", len(emb), len(paths))
	}
	if err := serve.WriteNPY(*out, emb); err != nil {
		return err
	}
	if err := tfgraph.WriteFileAtomic(*out+".txt", []byte(strings.Join(paths, "\n")+"\n")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d embeddings of dimension %d written to %s\n", len(emb), len(emb[0]), *out)
	return nil
}

func cmdPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("predict", `Usage: simsiam predict --model DIR --images PATH

Classifies images with a SavedModel that has a "classify" signature (written
by linear-eval) and prints one line per image: path, class, probability.

Example:
  simsiam predict --model runs/fashion_mnist_demo/linear/saved_model --images shirt.png

Flags:
`, stderr)
	model := fs.String("model", "", "SavedModel directory with a classify signature")
	images := fs.String("images", "", "image file or folder")
	precision := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" || *images == "" {
		return usageError{errors.New("predict: --model and --images are required")}
	}
	opts, err := servePrecision(*precision, stderr)
	if err != nil {
		return err
	}
	paths, err := listImages(*images)
	if err != nil {
		return err
	}
	m, err := serve.Load(*model, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.HasClassifier() {
		return fmt.Errorf("%s has no classify signature (export one with simsiam linear-eval)", *model)
	}
	imgs, err := m.ReadFiles(paths)
	if err != nil {
		return err
	}
	preds, err := m.PredictImages(imgs)
	if err != nil {
		return err
	}
	for i, p := range preds {
		name := p.Name
		if name == "" {
			name = fmt.Sprint(p.Class)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%.4f\n", paths[i], name, p.Probabilities[p.Class])
	}
	return nil
}

func cmdPreview(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("preview", `Usage: simsiam preview [flags] --out grid.png

Writes a PNG grid: for a few images of the configured pretraining data, the
original and the two augmented views the training step sees, so orientation,
colours and augmentation strength can be checked by eye before a long run.

Example:
  simsiam preview --preset stl10_resnet18 --set data.dir=/data/stl10_binary --out grid.png

Flags:
`, stderr)
	var cf configFlags
	cf.register(fs)
	out := fs.String("out", "preview.png", "PNG file to write")
	n := fs.Int("n", 8, "number of images (rows)")
	step := fs.Int64("step", 0, "training step whose augmentation draws to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return usageError{fmt.Errorf("preview: --n is the number of rows, at least 1; got %d", *n)}
	}
	cfg, err := cf.load(true)
	if err != nil {
		return err
	}
	ds, err := train.OpenPretrainData(cfg)
	if err != nil {
		return err
	}
	idx := make([]int, min(*n, ds.N))
	for i := range idx {
		idx[i] = i * (ds.N / len(idx))
	}
	grid, err := augment.Preview(ds, idx, cfg.Augment, cfg.Data, augment.StepSeed(cfg.Seed, *step))
	if err != nil {
		return err
	}
	if err := augment.WritePNG(*out, grid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d rows of original | view 1 | view 2\n", *out, len(idx))
	return nil
}

// measuredOn prints the machine a result was measured on: figures are
// exact for one CPU model and kernel library, not across them.
func measuredOn(w io.Writer) {
	dnn, _ := tfgraph.OneDNNEnabled()
	fmt.Fprintf(w, "measured on: %s, oneDNN %s, TensorFlow %s\n", sysinfo.ReadCPU(), onOff(dnn), tfgraph.Version())
}

// precisionFlag registers --precision for the commands that run a
// SavedModel (which carries no runtime config of its own).
func precisionFlag(fs *flag.FlagSet) *string {
	return fs.String("precision", "fp32", "arithmetic of the model's matrix work: fp32, or bf16 (TensorFlow's oneDNN bfloat16 rewrite; fast only on CPUs with AMX-BF16 or AVX512-BF16)")
}

// servePrecision turns --precision into serve options; bf16 needs the
// oneDNN kernels, so it may restart the process with them on.
func servePrecision(p string, stderr io.Writer) ([]serve.Option, error) {
	switch p {
	case "fp32":
		return nil, nil
	case "bf16":
		if err := applyOneDNN(true, stderr); err != nil {
			return nil, err
		}
		return []serve.Option{serve.WithSessionOptions(tfgraph.SessionOptions{Precision: tfgraph.PrecisionBF16})}, nil
	}
	return nil, usageError{fmt.Errorf("--precision %q: want fp32 or bf16", p)}
}

// tidySavedModel restores or removes what an interrupted export of the
// SavedModel dir left beside it (tfgraph.RemoveSavedModelTemps) and says
// what it did on w.
func tidySavedModel(dir string, w io.Writer) error {
	removed, restored, err := tfgraph.RemoveSavedModelTemps(dir)
	if restored != "" {
		fmt.Fprintf(w, "restored the SavedModel an interrupted export had moved aside: %s -> %s\n", restored, dir)
	}
	if len(removed) > 0 {
		fmt.Fprintf(w, "removed what an interrupted export left: %s\n", strings.Join(removed, ", "))
	}
	return err
}
