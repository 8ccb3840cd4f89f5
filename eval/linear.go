package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// ClassifierScope names the linear classifier's variables:
// classifier/kernel [FeatureDim, classes] and classifier/bias [classes].
const ClassifierScope = "classifier"

// Linear-evaluation modes (LinearResult.Mode).
const (
	ModeCached  = "cached_features"
	ModeAugment = "augment"
)

// LinearResult is the outcome of a linear evaluation.
type LinearResult struct {
	// Top1 and Top5 are the test-split accuracies of the trained classifier
	// (Top5 is NaN with fewer than five classes).
	Top1, Top5 float64
	// Checkpoint is the prefix of the checkpoint holding encoder/* and
	// classifier/* ("" when no output directory was given).
	Checkpoint string
	// Epochs and Steps are the length of classifier training.
	Epochs int
	Steps  int64
	// Loss is the mean training cross-entropy of the last epoch.
	Loss float64
	// Mode is ModeCached or ModeAugment.
	Mode string
	// Classes is the number of classifier outputs.
	Classes int
}

// LinearEval trains a linear classifier on the frozen backbone of checkpoint
// ("" = random init, the random-init baseline) with cfg.Eval's train split
// and scores it on the test split; see LinearEvalData.
func LinearEval(ctx context.Context, cfg *configs.Config, checkpoint string, out string, log io.Writer) (*LinearResult, error) {
	trainSet, testSet, err := OpenEvalData(cfg)
	if err != nil {
		return nil, err
	}
	return LinearEvalData(ctx, cfg, checkpoint, trainSet, testSet, out, log)
}

// LinearEvalData is the linear evaluation protocol on given labelled sets.
// The backbone runs in inference mode and is never updated; a linear layer
// (classifier/kernel ~ N(0, 0.01²), classifier/bias = 0) on its pooled
// features is trained with softmax cross-entropy and SGD with momentum
// (linear.momentum, linear.weight_decay), the learning rate
// cfg.LinearLR() = linear.base_lr × linear.batch_size / 256 decaying to 0
// along a per-step cosine over linear.epochs epochs.
//
// The classifier trains on standardised features (x - mean) / std, with
// per-dimension statistics of the unaugmented training features (at most
// StatsImages of them in augment mode): pooled features of a frozen
// backbone can be tiny (a random-init ResNet's are ~0.05), and plain SGD at
// lr 0.1 then barely moves. Standardising is an affine map, so the result is
// still a linear classifier of the raw features: after training the
// statistics are folded into the weights, and the test accuracy and the
// saved classifier/kernel and classifier/bias are those of the folded
// classifier applied to raw pooled features.
//
// With linear.augment every batch goes through a random resized crop
// (augment.crop_scale, augment.crop_ratio) and a horizontal flip
// (augment.flip_prob), colour augmentations off, and then through the
// backbone. Otherwise (linear.cached_features, or neither flag) the frozen
// features are extracted once and the classifier trains on them, which is
// the same computation, done once instead of once per epoch.
//
// Top-1 and top-5 accuracy are measured on test's unaugmented features. When
// out is not empty the checkpoint out/linear/ckpt-STEPS holds encoder/* and
// classifier/* (with a "checkpoint" state file, so tf.train.latest_checkpoint
// and ResolveCheckpoint find it). Progress goes to log, one line per epoch.
func LinearEvalData(ctx context.Context, cfg *configs.Config, checkpoint string, trainSet, testSet *data.Images, out string, log io.Writer) (*LinearResult, error) {
	return linearEval(ctx, cfg, checkpoint, false, trainSet, testSet, out, log)
}

// LinearEvalPixels trains the same linear classifier, with the same
// settings, on raw pixels (value/255, flattened) instead of backbone
// features: the raw-pixel baseline. Nothing is saved.
func LinearEvalPixels(ctx context.Context, cfg *configs.Config, log io.Writer) (*LinearResult, error) {
	trainSet, testSet, err := OpenEvalData(cfg)
	if err != nil {
		return nil, err
	}
	c := *cfg
	c.Linear.Augment, c.Linear.CachedFeatures = false, true
	return linearEval(ctx, &c, "", true, trainSet, testSet, "", log)
}

func linearEval(ctx context.Context, cfg *configs.Config, checkpoint string, pixels bool, trainSet, testSet *data.Images, out string, log io.Writer) (*LinearResult, error) {
	if log == nil {
		log = io.Discard
	}
	l := cfg.Linear
	switch {
	case l.Epochs <= 0:
		return nil, fmt.Errorf("linear.epochs is %d, want > 0", l.Epochs)
	case l.BatchSize <= 0:
		return nil, fmt.Errorf("linear.batch_size is %d, want > 0", l.BatchSize)
	case !(cfg.LinearLR() > 0):
		return nil, fmt.Errorf("linear learning rate %v, want > 0", cfg.LinearLR())
	case l.CachedFeatures && l.Augment:
		return nil, errors.New("linear.cached_features computes features once without augmentation; set linear.augment to false")
	}
	if err := checkLabelled(trainSet, "train split"); err != nil {
		return nil, err
	}
	if err := checkLabelled(testSet, "test split"); err != nil {
		return nil, err
	}
	classes, err := numClasses(trainSet, testSet)
	if err != nil {
		return nil, err
	}
	if trainSet, err = trainSet.WithChannels(cfg.Data.Channels); err != nil {
		return nil, err
	}
	mode := ModeCached
	if l.Augment {
		mode = ModeAugment
	}

	dim := 0
	if pixels {
		if testSet, err = testSet.WithChannels(cfg.Data.Channels); err != nil {
			return nil, err
		}
		dim = trainSet.ImageSize()
	}
	placed, err := WithDevices(cfg)
	if err != nil {
		return nil, err
	}
	lg, err := buildLinear(placed, classes, mode, dim)
	if err != nil {
		return nil, err
	}
	features := func(ds *data.Images) ([]float32, error) { return lg.enc.Features(ds, FeatureBatch) }
	d := lg.enc.Dim
	if pixels {
		features = func(ds *data.Images) ([]float32, error) { return PixelFeatures(ds), nil }
		d = dim
	}
	sess, err := tfgraph.NewSession(lg.g, SessionOptions(cfg.Runtime))
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, lg.init); err != nil {
		return nil, fmt.Errorf("initialising the linear evaluation: %w", err)
	}
	lg.enc.Attach(sess)
	if log != io.Discard {
		lg.enc.Log = log
	}
	src := "random init (seed " + fmt.Sprint(cfg.Seed) + ")"
	if pixels {
		src = "raw pixels"
	} else if checkpoint != "" {
		if err := lg.enc.Restore(checkpoint); err != nil {
			return nil, err
		}
		src = checkpoint
	}
	fmt.Fprintf(log, "linear eval (%s) of the encoder from %s: %d train / %d test images, %d classes, %d-d features\n",
		mode, src, trainSet.N, testSet.N, classes, d)

	// Train features: all of them for cached training, a subset for the
	// standardisation statistics of augmented training.
	statSet := trainSet
	if mode == ModeAugment {
		if statSet, err = spread(trainSet, StatsImages); err != nil {
			return nil, fmt.Errorf("linear eval: %w", err)
		}
	}
	t0 := time.Now()
	trainFeat, err := features(statSet)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "extracted %d train features in %s\n", statSet.N, time.Since(t0).Round(time.Millisecond))
	mean, inv := featureStats(trainFeat, d)
	if err := lg.setStats(sess, mean, inv); err != nil {
		return nil, err
	}

	b, err := data.NewBatcher(trainSet.N, l.BatchSize, uint64(cfg.Seed), false)
	if err != nil {
		return nil, err
	}
	spe := b.StepsPerEpoch()
	total := int64(spe) * int64(l.Epochs)
	base := cfg.LinearLR()
	res := &LinearResult{Epochs: l.Epochs, Mode: mode, Classes: classes}
	var (
		featBuf  []float32
		pixBuf   []byte
		labelBuf []int32
	)
	var step int64
	for e := 0; e < l.Epochs; e++ {
		t0 = time.Now()
		var lossSum float64
		var seen int
		var lr float64
		for _, idx := range b.Epoch(e) {
			lr = base * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total)))
			if labelBuf, err = trainSet.BatchLabels(idx, labelBuf); err != nil {
				return nil, fmt.Errorf("linear eval: %w", err)
			}
			feeds, err := lg.batchFeeds(mode, trainSet, trainFeat, d, idx, labelBuf, &featBuf, &pixBuf, cfg.Seed, step, lr)
			if err != nil {
				return nil, err
			}
			r, err := sess.Run(feeds, []tfgraph.Output{lg.loss}, lg.train)
			if err != nil {
				return nil, fmt.Errorf("linear eval: epoch %d step %d: %w", e+1, step, err)
			}
			loss, err := tfgraph.FloatScalar(r[0])
			if err != nil {
				return nil, err
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				return nil, fmt.Errorf("linear eval: epoch %d step %d: loss is %v (lower linear.base_lr)", e+1, step, loss)
			}
			lossSum += float64(loss) * float64(len(idx))
			seen += len(idx)
			step++
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		res.Loss = lossSum / float64(seen)
		fmt.Fprintf(log, "linear epoch %d/%d loss %.4f lr %.4g (%s)\n", e+1, l.Epochs, res.Loss, lr, time.Since(t0).Round(time.Millisecond))
	}
	res.Steps = step
	if err := lg.fold(sess, mean, inv); err != nil {
		return nil, err
	}

	testFeat, err := features(testSet)
	if err != nil {
		return nil, err
	}
	ranked, err := lg.rank(sess, testFeat, d)
	if err != nil {
		return nil, err
	}
	res.Top1, res.Top5 = accuracy(ranked, testSet.Labels)
	fmt.Fprintf(log, "linear eval: test top-1 %.2f%% top-5 %.2f%% (%d images)\n", 100*res.Top1, 100*res.Top5, testSet.N)

	if out != "" {
		ckpts := tfgraph.Checkpoints{Dir: filepath.Join(out, "linear"), Keep: 1}
		prefix := ckpts.Prefix(step)
		if err := lg.saver.Save(sess, prefix); err != nil {
			return nil, err
		}
		if err := ckpts.Commit(step); err != nil {
			return nil, err
		}
		res.Checkpoint = prefix
		fmt.Fprintf(log, "linear eval: wrote %s (encoder/* and classifier/*)\n", prefix)
	}
	return res, nil
}

// linearGraph is the linear-evaluation graph: the encoder (with its
// inference path and restore ops), the classifier, and one training step
// fed either with features or with uint8 images.
type linearGraph struct {
	g            *tfgraph.Graph
	enc          *Encoder
	kernel, bias *tfgraph.Variable
	feats        tfgraph.Output // float32 [N, D] placeholder
	labels       tfgraph.Output // int32 [N] placeholder
	images, seed tfgraph.Output // augment mode: uint8 NHWC and int64 [2] placeholders
	lr           tfgraph.Output // float32 scalar placeholder
	loss         tfgraph.Output
	train        *tfgraph.Operation
	logits       tfgraph.Output // training logits (standardised features)
	rawLogits    tfgraph.Output // logits of the raw feats rows
	ranked       tfgraph.Output // classes of the feats rows, best first
	// Feature standardisation used in training, folded into the classifier
	// at the end.
	mean, inv          *tfgraph.Variable
	meanIn, invIn      tfgraph.Output
	kernelIn, biasIn   tfgraph.Output
	setStatsOp, foldOp *tfgraph.Operation
	init               *tfgraph.Operation
	saver              *tfgraph.Saver
}

// buildLinear builds the graph; dim > 0 overrides the feature dimension
// (raw pixels), else the encoder's is used.
func buildLinear(cfg *configs.Config, classes int, mode string, dim int) (*linearGraph, error) {
	g := tfgraph.NewGraph()
	g.SetDevice(Device(cfg))
	enc, err := AddEncoder(g, cfg)
	if err != nil {
		return nil, err
	}
	lg := &linearGraph{g: g, enc: enc}
	root := g.Root()
	cs := root.Child(ClassifierScope)
	d, k := int64(enc.Dim), int64(classes)
	if dim > 0 {
		d = int64(dim)
	}
	lg.kernel = cs.Var("kernel", []int64{d, k}, tfgraph.Normal(0.01), cfg.Seed)
	lg.bias = cs.Var("bias", []int64{k}, tfgraph.Zeros(), 0)
	head := &tfgraph.Dense{Kernel: lg.kernel, Bias: lg.bias}

	s := root.Child("linear")
	lg.feats = s.Placeholder("features", tfgraph.Float, []int64{-1, d})
	lg.labels = s.Placeholder("labels", tfgraph.Int32, []int64{-1})
	lg.lr = s.Placeholder("lr", tfgraph.Float, []int64{})
	lg.rawLogits = head.Apply(s.Child("eval"), lg.feats)
	_, lg.ranked = s.TopK(lg.rawLogits, int32(min(TopK, classes)))

	// Standardisation statistics (not saved: fold puts them into the
	// classifier) and the ops that set them and the folded classifier.
	ss := s.Child("standardize")
	lg.mean = ss.Var("mean", []int64{d}, tfgraph.Zeros(), 0, tfgraph.NonTrainable())
	lg.inv = ss.Var("inv_std", []int64{d}, tfgraph.Ones(), 0, tfgraph.NonTrainable())
	lg.meanIn = ss.Placeholder("mean_value", tfgraph.Float, []int64{d})
	lg.invIn = ss.Placeholder("inv_std_value", tfgraph.Float, []int64{d})
	lg.setStatsOp = ss.Group("set", lg.mean.AssignOp(ss, "set_mean", lg.meanIn), lg.inv.AssignOp(ss, "set_inv_std", lg.invIn))
	fs := s.Child("fold")
	lg.kernelIn = fs.Placeholder("kernel_value", tfgraph.Float, []int64{d, k})
	lg.biasIn = fs.Placeholder("bias_value", tfgraph.Float, []int64{k})
	lg.foldOp = fs.Group("assign", lg.kernel.AssignOp(fs, "kernel", lg.kernelIn), lg.bias.AssignOp(fs, "bias", lg.biasIn))
	standardize := func(x tfgraph.Output) tfgraph.Output {
		return ss.Mul(ss.Sub(x, lg.mean.Read()), lg.inv.Read())
	}

	x := lg.feats
	if mode == ModeAugment {
		ts := s.Child("train")
		lg.images = ts.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, int64(cfg.Data.Channels)})
		lg.seed = ts.Placeholder("seed", tfgraph.Int64, []int64{2})
		a := cfg.Augment
		a.JitterProb, a.GrayscaleProb, a.BlurProb = 0, 0, 0
		view := augment.View(ts.Child("augment"), lg.images, lg.seed, a, cfg.Data)
		x = ts.StopGradient(enc.Backbone.Apply(ts.Child(EncoderScope), view, tfgraph.Inference))
	}
	lg.logits = head.Apply(s.Child("logits"), standardize(x))
	lg.loss = s.Identity("loss", crossEntropy(s.Child("loss"), lg.logits, lg.labels, int32(classes)))
	vars := []*tfgraph.Variable{lg.kernel, lg.bias}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building the linear evaluation: %w", err)
	}
	grads, err := g.Gradients("linear/gradients", lg.loss, vars)
	if err != nil {
		return nil, err
	}
	opt := &tfgraph.Momentum{Momentum: float32(cfg.Linear.Momentum), WeightDecay: float32(cfg.Linear.WeightDecay)}
	lg.train = opt.Apply(s.Child("optimizer"), vars, grads, func(*tfgraph.Variable) tfgraph.Output { return lg.lr })
	lg.init = g.InitOp("init")
	lg.saver = tfgraph.NewSaver(g, "save", append(append([]*tfgraph.Variable(nil), enc.Vars...), vars...))
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building the linear evaluation: %w", err)
	}
	return lg, nil
}

// crossEntropy is the mean softmax cross-entropy of logits [N, K] against
// int32 labels [N]. The log-softmax is composed of ops whose gradients the
// C++ gradient registry has (SparseSoftmaxCrossEntropyWithLogits has none):
// z = logits - max (a constant shift, so no gradient flows through the max),
// log p = z - log Σ exp z.
func crossEntropy(s *tfgraph.Scope, logits, labels tfgraph.Output, classes int32) tfgraph.Output {
	z := s.Sub(logits, s.StopGradient(s.Max(logits, true, 1)))
	lse := s.Log(s.Sum(s.Exp(z), true, 1))
	logp := s.Sub(z, lse)
	return s.Neg(s.Mean(s.Sum(s.Mul(s.OneHot(labels, classes), logp), false, 1), false, 0))
}

// batchFeeds builds the feeds of one training step on the rows idx.
func (lg *linearGraph) batchFeeds(mode string, ds *data.Images, feats []float32, d int, idx []int, labels []int32,
	featBuf *[]float32, pixBuf *[]byte, runSeed, step int64, lr float64) (map[tfgraph.Output]*tfgraph.Tensor, error) {
	lt, err := tfgraph.NewTensor(labels)
	if err != nil {
		return nil, err
	}
	lrt, err := tfgraph.NewTensor(float32(lr))
	if err != nil {
		return nil, err
	}
	feeds := map[tfgraph.Output]*tfgraph.Tensor{lg.labels: lt, lg.lr: lrt}
	if mode == ModeAugment {
		if *pixBuf, err = ds.Batch(idx, *pixBuf); err != nil {
			return nil, err
		}
		it, err := imageTensor(*pixBuf, len(idx), ds.H, ds.W, ds.C)
		if err != nil {
			return nil, err
		}
		st, err := tfgraph.NewTensor(augment.StepSeed(runSeed, step))
		if err != nil {
			return nil, err
		}
		feeds[lg.images], feeds[lg.seed] = it, st
		return feeds, nil
	}
	need := len(idx) * d
	if cap(*featBuf) < need {
		*featBuf = make([]float32, need)
	}
	fb := (*featBuf)[:need]
	for j, i := range idx {
		copy(fb[j*d:(j+1)*d], feats[i*d:(i+1)*d])
	}
	ft, err := floatTensor(fb, int64(len(idx)), int64(d))
	if err != nil {
		return nil, err
	}
	feeds[lg.feats] = ft
	return feeds, nil
}

// rank runs the classifier on feature rows and returns each row's classes,
// best first.
func (lg *linearGraph) rank(sess *tfgraph.Session, feats []float32, d int) ([][]int32, error) {
	n := len(feats) / d
	out := make([][]int32, 0, n)
	for i := 0; i < n; i += 4 * FeatureBatch {
		m := min(4*FeatureBatch, n-i)
		ft, err := floatTensor(feats[i*d:(i+m)*d], int64(m), int64(d))
		if err != nil {
			return nil, err
		}
		r, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{lg.feats: ft}, []tfgraph.Output{lg.ranked})
		if err != nil {
			return nil, fmt.Errorf("linear eval: scoring the test split: %w", err)
		}
		rows, ok := r[0].Value().([][]int32)
		if !ok {
			return nil, fmt.Errorf("linear eval: unexpected result %T", r[0].Value())
		}
		out = append(out, rows...)
	}
	return out, nil
}

// StatsImages bounds the number of (unaugmented) training images, taken at
// even strides, whose features give the standardisation statistics in
// augment mode.
const StatsImages = 10000

// spread returns n images taken at even strides through ds (ds itself when
// it has at most n), so sets stored class by class are sampled fairly.
func spread(ds *data.Images, n int) (*data.Images, error) {
	if ds.N <= n {
		return ds, nil
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = int(int64(i) * int64(ds.N) / int64(n))
	}
	out := *ds
	out.N = n
	var err error
	if out.Pix, err = ds.Batch(idx, nil); err != nil {
		return nil, err
	}
	if out.Labels, err = ds.BatchLabels(idx, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

// featureStats returns the per-dimension mean and inverse standard deviation
// of feature rows [n, d]. Standard deviations are floored at 1% of their
// root-mean-square (and 1e-12), so a feature that never fires in the
// statistics does not get an enormous scale.
func featureStats(f []float32, d int) (mean, inv []float32) {
	n := len(f) / d
	m := make([]float64, d)
	v := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, x := range f[i*d : (i+1)*d] {
			m[j] += float64(x)
		}
	}
	for j := range m {
		m[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, x := range f[i*d : (i+1)*d] {
			dx := float64(x) - m[j]
			v[j] += dx * dx
		}
	}
	var meanVar float64
	for j := range v {
		v[j] /= float64(n)
		meanVar += v[j] / float64(d)
	}
	floor := math.Max(0.01*math.Sqrt(meanVar), 1e-12)
	mean, inv = make([]float32, d), make([]float32, d)
	for j := range m {
		mean[j] = float32(m[j])
		inv[j] = float32(1 / math.Max(math.Sqrt(v[j]), floor))
	}
	return mean, inv
}

func (lg *linearGraph) setStats(sess *tfgraph.Session, mean, inv []float32) error {
	mt, err := tfgraph.NewTensor(mean)
	if err != nil {
		return err
	}
	it, err := tfgraph.NewTensor(inv)
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{lg.meanIn: mt, lg.invIn: it}, nil, lg.setStatsOp); err != nil {
		return fmt.Errorf("linear eval: setting feature statistics: %w", err)
	}
	return nil
}

// fold rewrites the classifier trained on standardised features
// ((x - mean) * inv) · W + b as one on raw features: kernel W * inv (row j
// scaled by inv[j]) and bias b - (mean * inv) · W. The saved
// classifier/kernel and classifier/bias then apply directly to the pooled
// features, as an exported classify signature computes them.
func (lg *linearGraph) fold(sess *tfgraph.Session, mean, inv []float32) error {
	out, err := sess.Run(nil, []tfgraph.Output{lg.kernel.Read(), lg.bias.Read()})
	if err != nil {
		return fmt.Errorf("linear eval: reading the classifier: %w", err)
	}
	w, ok1 := out[0].Value().([][]float32)
	b, ok2 := out[1].Value().([]float32)
	if !ok1 || !ok2 || len(w) != len(mean) {
		return fmt.Errorf("linear eval: unexpected classifier values %T %T", out[0].Value(), out[1].Value())
	}
	k := len(b)
	kernel := make([]float32, len(w)*k)
	bias := make([]float64, k)
	for c := range bias {
		bias[c] = float64(b[c])
	}
	for j, row := range w {
		for c, x := range row {
			kernel[j*k+c] = x * inv[j]
			bias[c] -= float64(mean[j]) * float64(inv[j]) * float64(x)
		}
	}
	kt, err := floatTensor(kernel, int64(len(w)), int64(k))
	if err != nil {
		return err
	}
	b32 := make([]float32, k)
	for c := range b32 {
		b32[c] = float32(bias[c])
	}
	bt, err := tfgraph.NewTensor(b32)
	if err != nil {
		return err
	}
	if _, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{lg.kernelIn: kt, lg.biasIn: bt}, nil, lg.foldOp); err != nil {
		return fmt.Errorf("linear eval: folding the standardisation into the classifier: %w", err)
	}
	return nil
}
