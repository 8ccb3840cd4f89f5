package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/schedule"
	"github.com/simsiam-go/simsiam/runfolder"
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
	trainSet, testSet, err := OpenEvalDataContext(ctx, cfg)
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
	return linearEval(ctx, cfg, checkpoint, nil, trainSet, testSet, out, log)
}

// LinearEvalPixels trains the same linear classifier, with the same
// settings, on raw pixels (value/255, flattened) instead of backbone
// features: the raw-pixel baseline. Nothing is saved.
func LinearEvalPixels(ctx context.Context, cfg *configs.Config, log io.Writer) (*LinearResult, error) {
	trainSet, testSet, err := OpenEvalDataContext(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if trainSet, err = trainSet.WithChannels(cfg.Data.Channels); err != nil {
		return nil, err
	}
	if testSet, err = testSet.WithChannels(cfg.Data.Channels); err != nil {
		return nil, err
	}
	return LinearEvalFeatures(ctx, cfg, "raw pixels", trainSet, PixelFeatures(trainSet), testSet, PixelFeatures(testSet), trainSet.ImageSize(), log)
}

// LinearEvalFeatures trains and scores the classifier of LinearEvalData on
// features computed beforehand (d values a row, rows in the order of
// trainSet's and testSet's images, whose labels are used), as in cached
// mode whatever linear.augment says: the baselines and several linear
// protocols can share one feature extraction. source names the features in
// the log. Nothing is saved.
func LinearEvalFeatures(ctx context.Context, cfg *configs.Config, source string, trainSet *data.Images, trainFeat []float32, testSet *data.Images, testFeat []float32, d int, log io.Writer) (*LinearResult, error) {
	switch {
	case d <= 0:
		return nil, fmt.Errorf("linear eval: feature dimension %d, want > 0", d)
	case trainSet == nil || testSet == nil:
		return nil, errors.New("linear eval: a train and a test split are needed")
	case len(trainFeat) != trainSet.N*d:
		return nil, fmt.Errorf("linear eval: %d train feature values for %d images of dimension %d", len(trainFeat), trainSet.N, d)
	case len(testFeat) != testSet.N*d:
		return nil, fmt.Errorf("linear eval: %d test feature values for %d images of dimension %d", len(testFeat), testSet.N, d)
	}
	c := *cfg
	c.Linear.Augment, c.Linear.CachedFeatures = false, true
	return linearEval(ctx, &c, "", &givenFeatures{source: source, train: trainFeat, test: testFeat, d: d}, trainSet, testSet, "", log)
}

// givenFeatures are features computed before linearEval (raw pixels, or an
// encoder's extracted once for several evaluations).
type givenFeatures struct {
	source      string
	train, test []float32
	d           int
}

func linearEval(ctx context.Context, cfg *configs.Config, checkpoint string, given *givenFeatures, trainSet, testSet *data.Images, out string, log io.Writer) (*LinearResult, error) {
	if log == nil {
		log = io.Discard
	}
	l := cfg.Linear
	classes, err := checkLinear(cfg, trainSet, testSet)
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
	if given != nil {
		dim = given.d
	}
	placed, err := WithDevices(cfg)
	if err != nil {
		return nil, err
	}
	lg, err := buildLinear(placed, classes, mode, dim)
	if err != nil {
		return nil, err
	}
	features := func(ds *data.Images) ([]float32, error) { return lg.enc.FeaturesContext(ctx, ds, FeatureBatch) }
	d := lg.enc.Dim
	if given != nil {
		features = func(ds *data.Images) ([]float32, error) {
			if ds == testSet {
				return given.test, nil
			}
			return given.train, nil
		}
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
	if given != nil {
		src = given.source
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

	res := &LinearResult{Epochs: l.Epochs, Mode: mode, Classes: classes}
	f := &feeder{lg: lg, mode: mode, ds: trainSet, feats: trainFeat, d: d, runSeed: cfg.Seed}
	if res.Steps, res.Loss, err = trainClassifier(ctx, sess, f, cfg, log); err != nil {
		return nil, err
	}
	step := res.Steps
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
		if res.Checkpoint, err = saveClassifier(sess, lg.saver, out, step); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "linear eval: wrote %s (encoder/* and classifier/*)\n", res.Checkpoint)
	}
	return res, nil
}

// checkLinear checks the linear.* settings and the labelled sets and
// returns the number of classes.
func checkLinear(cfg *configs.Config, trainSet, testSet *data.Images) (int, error) {
	l := cfg.Linear
	switch {
	case l.Epochs <= 0:
		return 0, fmt.Errorf("linear.epochs is %d, want > 0", l.Epochs)
	case l.BatchSize <= 0:
		return 0, fmt.Errorf("linear.batch_size is %d, want > 0", l.BatchSize)
	case !(cfg.LinearLR() > 0):
		return 0, fmt.Errorf("linear learning rate %v, want > 0", cfg.LinearLR())
	case l.CachedFeatures && l.Augment:
		return 0, errors.New("linear.cached_features computes features once without augmentation; set linear.augment to false")
	}
	if err := checkLabelled(trainSet, "train split"); err != nil {
		return 0, err
	}
	if err := checkLabelled(testSet, "test split"); err != nil {
		return 0, err
	}
	return numClasses(trainSet, testSet)
}

// saveClassifier writes the checkpoint out/linear/ckpt-STEP (encoder/* and
// classifier/*), the only one kept there, and returns its prefix.
func saveClassifier(sess *tfgraph.Session, saver *tfgraph.Saver, out string, step int64) (string, error) {
	ckpts := tfgraph.Checkpoints{Dir: runfolder.Dir(out).Linear(), Keep: 1}
	prefix := ckpts.Prefix(step)
	if err := saver.Save(sess, prefix); err != nil {
		return "", err
	}
	if err := ckpts.Commit(step); err != nil {
		return "", err
	}
	return prefix, nil
}

// trainClassifier runs linear.epochs epochs of classifier steps fed by f,
// with the learning rate on a per-step cosine, and returns the steps done
// and the last epoch's mean loss. One line per epoch goes to log.
func trainClassifier(ctx context.Context, sess *tfgraph.Session, f *feeder, cfg *configs.Config, log io.Writer) (int64, float64, error) {
	l := cfg.Linear
	b, err := data.NewBatcher(f.ds.N, l.BatchSize, uint64(cfg.Seed), false)
	if err != nil {
		return 0, 0, err
	}
	total := int64(b.StepsPerEpoch()) * int64(l.Epochs)
	base := cfg.LinearLR()
	var step int64
	var epochLoss float64
	for e := 0; e < l.Epochs; e++ {
		t0 := time.Now()
		var lossSum float64
		var seen int
		var lr float64
		for _, idx := range b.Epoch(e) {
			lr = schedule.Cosine(base, step, 0, total)
			feeds, err := f.feeds(idx, step, lr)
			if err != nil {
				return step, 0, err
			}
			r, err := sess.Run(feeds, []tfgraph.Output{f.lg.loss}, f.lg.train)
			if err != nil {
				return step, 0, fmt.Errorf("linear eval: epoch %d step %d: %w", e+1, step, err)
			}
			loss, err := tfgraph.FloatScalar(r[0])
			if err != nil {
				return step, 0, err
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				return step, 0, fmt.Errorf("linear eval: epoch %d step %d: loss is %v (lower linear.base_lr)", e+1, step, loss)
			}
			lossSum += float64(loss) * float64(len(idx))
			seen += len(idx)
			step++
			if err := ctx.Err(); err != nil {
				return step, 0, err
			}
		}
		epochLoss = lossSum / float64(seen)
		fmt.Fprintf(log, "linear epoch %d/%d loss %.4f lr %.4g (%s)\n", e+1, l.Epochs, epochLoss, lr, time.Since(t0).Round(time.Millisecond))
	}
	return step, epochLoss, nil
}
