package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/simsiam-go/simsiam/data/format"
	"github.com/simsiam-go/simsiam/model/arch"
)

// The allowed values of data.format, eval.format and their splits come from
// package format, those of model.arch and model.stem from package arch: the
// lists data.Open and model's registry are checked against. Both are
// import-free leaves, so configs (which model imports) can use them.

// maxLocalCrops bounds augment.local_crops: every local view is one more
// forward pass of the network per step.
const maxLocalCrops = 16

// checker collects validation problems, each prefixed by its key.
type checker struct{ errs []error }

func (c *checker) fail(key, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (c *checker) positive(key string, v int) {
	if v <= 0 {
		c.fail(key, "must be > 0, got %d", v)
	}
}

func (c *checker) nonNegative(key string, v int) {
	if v < 0 {
		c.fail(key, "must be >= 0, got %d", v)
	}
}

func (c *checker) positiveFloat(key string, v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		c.fail(key, "must be a finite number > 0, got %v", v)
	}
}

func (c *checker) nonNegativeFloat(key string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		c.fail(key, "must be a finite number >= 0, got %v", v)
	}
}

// between checks lo <= v <= hi (NaN fails).
func (c *checker) between(key string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		c.fail(key, "must be in [%v, %v], got %v", lo, hi, v)
	}
}

// momentum checks 0 <= v < 1.
func (c *checker) momentum(key string, v float64) {
	if !(v >= 0 && v < 1) {
		c.fail(key, "must be in [0, 1), got %v", v)
	}
}

func (c *checker) oneOf(key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		c.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

// interval checks a [min, max] pair with 0 < min <= max (<= upper when
// upper > 0).
func (c *checker) interval(key string, v []float64, upper float64) {
	if len(v) != 2 {
		c.fail(key, "must be a [min, max] pair, got %d values", len(v))
		return
	}
	lo, hi := v[0], v[1]
	switch {
	case !(lo > 0) || math.IsInf(hi, 0):
		c.fail(key, "must be positive and finite, got %v", v)
	case !(lo <= hi):
		c.fail(key, "min must be <= max, got %v", v)
	case upper > 0 && hi > upper:
		c.fail(key, "max must be <= %v, got %v", upper, v)
	}
}

// location checks data.dir or eval.dir for the format: a directory that
// exists, but for tfrecord also a file or a glob pattern, and for tfds also
// a data set name resolved when the data is opened.
func (c *checker) location(key, name, path string) {
	switch name {
	case format.TFRecord:
		if st, err := os.Stat(path); (err == nil && st.Mode().IsRegular()) || (err != nil && strings.ContainsAny(path, "*?[")) {
			return
		}
	case format.TFDS:
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && format.IsTFDSName(path) {
			return
		}
	}
	c.dir(key, path)
}

// dir checks that a directory exists.
func (c *checker) dir(key, path string) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.fail(key, "directory %q does not exist", path)
	case err != nil:
		c.fail(key, "%v", err)
	case !st.IsDir():
		c.fail(key, "%q is not a directory", path)
	}
}

// Validate checks every range and cross-key rule and returns all problems
// joined with errors.Join, each naming its key; nil means valid. With
// checkPaths, data.dir and eval.dir must exist.
func (c *Config) Validate(checkPaths bool) error {
	var k checker
	k.top(c)
	k.data(c, checkPaths)
	k.eval(c, checkPaths)
	k.augment(c)
	k.model(c)
	k.method(c)
	k.optim(c)
	k.train(c)
	k.linear(c)
	k.runtime(c)
	return errors.Join(k.errs...)
}

// top checks the keys outside the sections.
func (k *checker) top(c *Config) {
	if strings.TrimSpace(c.OutputDir) == "" {
		k.fail("output_dir", "must not be empty")
	}
	// The seed is used as an unsigned 64-bit number (the data order's
	// stream): a negative one would silently wrap around.
	if c.Seed < 0 {
		k.fail("seed", "must be >= 0, got %d", c.Seed)
	}
}

// data checks data.* (with checkPaths, that data.dir exists).
func (k *checker) data(c *Config, checkPaths bool) {
	d := c.Data
	k.oneOf("data.format", d.Format, format.Names())
	if d.Dir == "" {
		k.fail("data.dir", "must not be empty")
	} else if checkPaths {
		k.location("data.dir", d.Format, d.Dir)
	}
	if splits, ok := format.PretrainSplits(d.Format); ok {
		k.oneOf("data.split", d.Split, splits)
	}
	if d.ImageSize < 8 {
		k.fail("data.image_size", "must be >= 8, got %d", d.ImageSize)
	}
	if d.Channels != 1 && d.Channels != 3 {
		k.fail("data.channels", "must be 1 or 3, got %d", d.Channels)
	}
	for _, p := range d.normalizationProblems(d.Channels) {
		k.fail(p.key, "%s", p.msg)
	}
	if strings.TrimSpace(d.ImageFeature) == "" {
		k.fail("data.image_feature", "must not be empty")
	}
	if strings.TrimSpace(d.LabelFeature) == "" {
		k.fail("data.label_feature", "must not be empty")
	}
	k.nonNegative("data.prefetch", d.Prefetch)
	k.nonNegative("data.limit", d.Limit)
	if d.Limit > 0 && d.DropLast && c.Optim.BatchSize > d.Limit {
		k.fail("data.limit", "%d images give no full batch of optim.batch_size = %d with data.drop_last", d.Limit, c.Optim.BatchSize)
	}
}

// eval checks eval.* (with checkPaths, that eval.dir exists).
func (k *checker) eval(c *Config, checkPaths bool) {
	e := c.Eval
	k.oneOf("eval.format", e.Format, format.Names())
	if e.Dir == "" {
		k.fail("eval.dir", "must not be empty")
	} else if checkPaths {
		k.location("eval.dir", e.Format, e.Dir)
	}
	if splits, ok := format.LabelledSplits(e.Format); ok {
		k.oneOf("eval.train_split", e.TrainSplit, splits)
		k.oneOf("eval.test_split", e.TestSplit, splits)
	} else {
		if e.TrainSplit == "" {
			k.fail("eval.train_split", "must not be empty")
		}
		if e.TestSplit == "" {
			k.fail("eval.test_split", "must not be empty")
		}
	}
	if strings.TrimSpace(e.ImageFeature) == "" {
		k.fail("eval.image_feature", "must not be empty")
	}
	if strings.TrimSpace(e.LabelFeature) == "" {
		k.fail("eval.label_feature", "must not be empty")
	}
	k.nonNegative("eval.limit_train", e.LimitTrain)
	k.nonNegative("eval.limit_test", e.LimitTest)
}

// augment checks augment.*.
func (k *checker) augment(c *Config) {
	a := c.Augment
	k.interval("augment.crop_scale", a.CropScale, 1)
	k.interval("augment.crop_ratio", a.CropRatio, 0)
	k.between("augment.jitter_prob", a.JitterProb, 0, 1)
	k.nonNegativeFloat("augment.brightness", a.Brightness)
	k.nonNegativeFloat("augment.contrast", a.Contrast)
	k.nonNegativeFloat("augment.saturation", a.Saturation)
	k.between("augment.hue", a.Hue, 0, 0.5)
	k.between("augment.grayscale_prob", a.GrayscaleProb, 0, 1)
	k.between("augment.blur_prob", a.BlurProb, 0, 1)
	k.between("augment.solarize_prob", a.SolarizeProb, 0, 1)
	k.interval("augment.blur_sigma", a.BlurSigma, 0)
	k.between("augment.flip_prob", a.FlipProb, 0, 1)
	k.between("augment.erase_prob", a.EraseProb, 0, 1)
	k.interval("augment.erase_scale", a.EraseScale, 1)
	k.nonNegative("augment.local_crops", a.LocalCrops)
	if a.LocalCrops > maxLocalCrops {
		k.fail("augment.local_crops", "must be at most %d, got %d", maxLocalCrops, a.LocalCrops)
	}
	k.nonNegative("augment.local_size", a.LocalSize)
	if a.LocalSize > c.Data.ImageSize && c.Data.ImageSize > 0 {
		k.fail("augment.local_size", "must be at most data.image_size (%d), got %d", c.Data.ImageSize, a.LocalSize)
	}
	k.interval("augment.local_scale", a.LocalScale, 1)
}

// model checks model.*.
func (k *checker) model(c *Config) {
	m := c.Model
	k.oneOf("model.arch", m.Arch, arch.Names())
	k.oneOf("model.stem", m.Stem, arch.Stems())
	k.positive("model.width", m.Width)
	k.positive("model.proj_dim", m.ProjDim)
	k.positive("model.proj_hidden", m.ProjHidden)
	if m.ProjLayers != 2 && m.ProjLayers != 3 {
		k.fail("model.proj_layers", "must be 2 or 3, got %d", m.ProjLayers)
	}
	k.positive("model.pred_hidden", m.PredHidden)
	k.positiveFloat("model.bn_eps", m.BNEps)
	if !(m.BNMomentum > 0 && m.BNMomentum <= 1) {
		k.fail("model.bn_momentum", "must be in (0, 1], got %v", m.BNMomentum)
	}
}

// method checks method.* (another method's keys are errors).
func (k *checker) method(c *Config) {
	k.oneOf("method.name", c.Method.Name, Methods())
	k.positiveFloat("method.simclr.temperature", c.Method.SimCLR.Temperature)
	k.nonNegativeFloat("method.barlow_twins.lambda", c.Method.BarlowTwins.Lambda)
	k.between("method.byol.tau_base", c.Method.BYOL.TauBase, 0, 1)
	for _, key := range otherMethodKeys(c) {
		k.fail(key, "is a key of another method than method.name %s, which would ignore it; remove it (or set method.name)", c.Method.Name)
	}
}

// optim checks optim.*.
func (k *checker) optim(c *Config) {
	o := c.Optim
	k.oneOf("optim.name", o.Name, Optimizers())
	k.positiveFloat("optim.lars_eta", o.LARSEta)
	k.positive("optim.batch_size", o.BatchSize)
	k.positive("optim.epochs", o.Epochs)
	k.positiveFloat("optim.base_lr", o.BaseLR)
	k.momentum("optim.momentum", o.Momentum)
	k.nonNegativeFloat("optim.weight_decay", o.WeightDecay)
	k.nonNegative("optim.warmup_epochs", o.WarmupEpochs)
	if o.WarmupEpochs > o.Epochs && o.Epochs > 0 {
		k.fail("optim.warmup_epochs", "must be <= optim.epochs (%d), got %d", o.Epochs, o.WarmupEpochs)
	}
}

// train checks train.*.
func (k *checker) train(c *Config) {
	t := c.Train
	k.nonNegative("train.max_steps", t.MaxSteps)
	k.positive("train.log_every", t.LogEvery)
	k.nonNegative("train.checkpoint_every", t.CheckpointEvery)
	if t.KeepCheckpoints < 1 {
		k.fail("train.keep_checkpoints", "must be >= 1, got %d", t.KeepCheckpoints)
	}
	k.nonNegative("train.knn_every", t.KNNEvery)
	k.positive("train.knn_k", t.KNNK)
	if t.KNNEvery > 0 && c.Eval.LimitTrain > 0 && t.KNNK > c.Eval.LimitTrain {
		k.fail("train.knn_k", "must be <= eval.limit_train (%d), got %d", c.Eval.LimitTrain, t.KNNK)
	}
	k.positiveFloat("train.knn_temperature", t.KNNTemperature)
	k.nonNegative("train.skip_nonfinite_steps", t.SkipNonfiniteSteps)
}

// linear checks linear.*.
func (k *checker) linear(c *Config) {
	l := c.Linear
	k.positive("linear.epochs", l.Epochs)
	k.positive("linear.batch_size", l.BatchSize)
	k.positiveFloat("linear.base_lr", l.BaseLR)
	k.momentum("linear.momentum", l.Momentum)
	k.nonNegativeFloat("linear.weight_decay", l.WeightDecay)
	if l.CachedFeatures && l.Augment {
		k.fail("linear.cached_features", "cached features are computed once without augmentation; set linear.augment to false")
	}
}

// runtime checks runtime.*.
func (k *checker) runtime(c *Config) {
	r := c.Runtime
	k.nonNegative("runtime.intra_op_threads", r.IntraOpThreads)
	k.nonNegative("runtime.inter_op_threads", r.InterOpThreads)
	k.oneOf("runtime.precision", r.Precision, Precisions())
	if r.Precision == "bf16" && !r.OneDNN {
		k.fail("runtime.precision", "bf16 needs runtime.onednn: true (TensorFlow's bfloat16 rewrite works on its oneDNN kernels only)")
	}
	for i, dev := range r.Devices {
		switch {
		case strings.TrimSpace(dev) == "":
			k.fail("runtime.devices", "entry %d is empty", i)
		case slices.Index(r.Devices, dev) < i:
			k.fail("runtime.devices", "%q is listed twice", dev)
		}
	}
	if n := len(r.Devices); n > 1 {
		k.fail("runtime.devices", "lists %d devices, but a process trains on one: for data parallelism run one worker per device (simsiam train --workers %d, or one TF_CONFIG task per device)", n, n)
	}
	k.positiveFloat("runtime.collective_timeout_s", r.CollectiveTimeoutS)
	k.positiveFloat("runtime.barrier_timeout_s", r.BarrierTimeoutS)
	if strings.ContainsAny(r.Target, " \t\n") {
		k.fail("runtime.target", "must not contain spaces, got %q", r.Target)
	}
}

// Optimizers are the values of optim.name.
func Optimizers() []string { return []string{"sgd", "lars"} }

// Precisions are the values of runtime.precision.
func Precisions() []string { return []string{"auto", "fp32", "bf16", "fp16"} }

// Methods are the values of method.name, sorted: simsiam and every method
// with a section of its own keys under method (method.simclr: simclr), so
// a new method's keys are what makes its name accepted. model's registry
// is tested against this list.
func Methods() []string {
	names := []string{"simsiam"}
	if sec := schema().byKey["method"]; sec != nil {
		for _, m := range sec.children {
			if m.section {
				names = append(names, m.name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// otherMethodKeys lists the keys of c that belong to a method other than
// c.Method.Name (a section of method named after another method) and differ
// from their defaults: c's method ignores them, so a value there is a
// mistake (a SimCLR temperature in a SimSiam config). A key set to its
// default cannot be told from an unset one and passes.
func otherMethodKeys(c *Config) []string {
	sec := schema().byKey["method"]
	if sec == nil {
		return nil
	}
	got, def := reflect.ValueOf(c).Elem(), reflect.ValueOf(Default())
	var keys []string
	for _, m := range sec.children {
		if !m.section || m.name == c.Method.Name {
			continue
		}
		for _, f := range m.children {
			if !reflect.DeepEqual(f.value(got).Interface(), f.value(def).Interface()) {
				keys = append(keys, f.key)
			}
		}
	}
	return keys
}
