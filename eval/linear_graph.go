package eval

import (
	"fmt"
	"runtime"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/session"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

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
	g.SetDevice(session.Device(cfg))
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
	lg.saver = tfgraph.NewSaver(g, "save", append(append([]*tfgraph.Variable(nil), enc.Vars...), vars...),
		model.RecordEntry(g.Root().Child("simsiam").OnHost(), cfg))
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

// feeder builds the feeds of the classifier's training steps: the labels
// and learning rate, and either the rows of cached features (feats, d
// values a row) or the uint8 images with the step's augmentation seed.
type feeder struct {
	lg      *linearGraph
	mode    string
	ds      *data.Images
	feats   []float32
	d       int
	runSeed int64
	// Buffers reused from step to step.
	featBuf  []float32
	pixBuf   []byte
	labelBuf []int32
	// unfreed counts the bytes of fed tensors since the last collection.
	unfreed int
}

// FeedCollectBytes bounds the memory of fed tensors awaiting release: a
// tensor's C buffer is freed by a Go finalizer, and the small Go heap of a
// feature-fed loop seldom triggers a collection, so without one raw-pixel
// features (800 KB a batch) piled up to 15 GB over 130 epochs. After this
// many fed bytes the feeder runs the collector.
const FeedCollectBytes = 256 << 20

// collect runs the garbage collector once n more fed bytes bring the total
// since the last collection to FeedCollectBytes.
func (f *feeder) collect(n int) {
	f.unfreed += n
	if f.unfreed >= FeedCollectBytes {
		runtime.GC()
		f.unfreed = 0
	}
}

// feeds builds the feeds of global step on the rows idx of f.ds.
func (f *feeder) feeds(idx []int, step int64, lr float64) (map[tfgraph.Output]*tfgraph.Tensor, error) {
	lg, ds, d := f.lg, f.ds, f.d
	var err error
	if f.labelBuf, err = ds.BatchLabels(idx, f.labelBuf); err != nil {
		return nil, fmt.Errorf("linear eval: %w", err)
	}
	lt, err := tfgraph.NewTensor(f.labelBuf)
	if err != nil {
		return nil, err
	}
	lrt, err := tfgraph.NewTensor(float32(lr))
	if err != nil {
		return nil, err
	}
	feeds := map[tfgraph.Output]*tfgraph.Tensor{lg.labels: lt, lg.lr: lrt}
	if f.mode == ModeAugment {
		if f.pixBuf, err = ds.Batch(idx, f.pixBuf); err != nil {
			return nil, err
		}
		it, err := imageTensor(f.pixBuf, len(idx), ds.H, ds.W, ds.C)
		if err != nil {
			return nil, err
		}
		st, err := tfgraph.NewTensor(augment.StepSeed(f.runSeed, step))
		if err != nil {
			return nil, err
		}
		feeds[lg.images], feeds[lg.seed] = it, st
		f.collect(len(f.pixBuf))
		return feeds, nil
	}
	need := len(idx) * d
	if cap(f.featBuf) < need {
		f.featBuf = make([]float32, need)
	}
	fb := f.featBuf[:need]
	for j, i := range idx {
		copy(fb[j*d:(j+1)*d], f.feats[i*d:(i+1)*d])
	}
	ft, err := floatTensor(fb, int64(len(idx)), int64(d))
	if err != nil {
		return nil, err
	}
	feeds[lg.feats] = ft
	f.collect(4 * need)
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
