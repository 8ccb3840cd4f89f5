package eval

import (
	"context"
	"fmt"
	"slices"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/internal/bf16probe"
	"github.com/simsiam-go/simsiam/internal/ctxwait"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// FeatureBatch is the number of images per Session.Run when features are
// extracted for the kNN monitor and the linear evaluation.
const FeatureBatch = 256

// OpenEvalData reads the labelled train split (kNN memory bank, linear
// training set) and test split named by cfg.Eval, limited by
// eval.limit_train and eval.limit_test, with data.channels channels (grey
// images are repeated to RGB when the network wants 3 channels).
func OpenEvalData(cfg *configs.Config) (train, test *data.Images, err error) {
	return OpenEvalDataContext(context.Background(), cfg)
}

// OpenEvalDataContext is OpenEvalData returning ctx's error as soon as ctx
// is done (the reading is abandoned; see ctxwait.Do), so a signal during a
// long read stops a command at once.
func OpenEvalDataContext(ctx context.Context, cfg *configs.Config) (train, test *data.Images, err error) {
	type sets struct{ train, test *data.Images }
	s, err := ctxwait.Do(ctx, func() (sets, error) {
		tr, te, err := openEvalData(cfg)
		return sets{tr, te}, err
	})
	return s.train, s.test, err
}

func openEvalData(cfg *configs.Config) (train, test *data.Images, err error) {
	open := func(split string, limit int) (*data.Images, error) {
		ds, err := data.OpenWith(cfg.Eval.Format, cfg.Eval.Dir, split, data.Options{
			Size: cfg.Data.ImageSize, Limit: limit, Channels: cfg.Data.Channels,
			ImageFeature: cfg.Eval.ImageFeature, LabelFeature: cfg.Eval.LabelFeature,
		})
		if err != nil {
			return nil, fmt.Errorf("eval split %q: %w", split, err)
		}
		if err := checkLabelled(ds, split); err != nil {
			return nil, err
		}
		return ds.WithChannels(cfg.Data.Channels)
	}
	if train, err = open(cfg.Eval.TrainSplit, cfg.Eval.LimitTrain); err != nil {
		return nil, nil, err
	}
	if test, err = open(cfg.Eval.TestSplit, cfg.Eval.LimitTest); err != nil {
		return nil, nil, err
	}
	if _, err := numClasses(train, test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// checkLabelled reports an empty or unlabelled split, or one whose labels do
// not match its images.
func checkLabelled(ds *data.Images, what string) error {
	switch {
	case ds == nil || ds.N == 0:
		return fmt.Errorf("eval %s: no images", what)
	case ds.Labels == nil:
		return fmt.Errorf("eval %s: %s has no labels (kNN and linear evaluation need a labelled set)", what, ds.Source)
	}
	return ds.Validate()
}

// numClasses is the number of classes of the two labelled splits: the
// larger of their counts (idx files count max label + 1, so a split may miss
// the last class). Splits that name their classes must name them alike.
func numClasses(train, test *data.Images) (int, error) {
	if train.ClassNames != nil && test.ClassNames != nil && !slices.Equal(train.ClassNames, test.ClassNames) {
		return 0, fmt.Errorf("eval: the train split (%s) and the test split (%s) have different classes: %v vs %v",
			train.Source, test.Source, train.ClassNames, test.ClassNames)
	}
	n := max(train.NumClasses, test.NumClasses)
	if n < 2 {
		return 0, fmt.Errorf("eval: %s has %d class(es), need at least 2", train.Source, n)
	}
	return n, nil
}

// PixelFeatures flattens every image of imgs to a float32 row of H*W*C
// values in [0, 1] (pixel/255), row-major in image order: the raw-pixel
// baseline's features for KNN.
func PixelFeatures(imgs *data.Images) []float32 {
	out := make([]float32, len(imgs.Pix))
	for i, p := range imgs.Pix {
		out[i] = float32(p) / 255
	}
	return out
}

// SessionOptions maps the runtime section of the config to TensorFlow
// session options (the trainer uses it too).
func SessionOptions(r configs.Runtime) tfgraph.SessionOptions {
	p, _ := Precision(r)
	return tfgraph.SessionOptions{
		Target: r.Target, IntraOpThreads: int32(r.IntraOpThreads), InterOpThreads: int32(r.InterOpThreads),
		XLA: r.XLA, AllowSoftPlacement: true, GPUMemoryGrowth: r.GPUMemoryGrowth, Precision: p,
	}
}

// Precision resolves runtime.precision for this machine and says why:
// auto is bf16 when runtime.onednn is on and bf16 measured clearly faster
// than fp32 here (bf16probe: a probe of the step's kernels, run once per CPU
// model and TensorFlow version and kept in the cache folder), else fp32.
// fp16 is never picked by auto: it has not been run on a GPU by this
// project.
func Precision(r configs.Runtime) (tfgraph.Precision, string) {
	on, known := tfgraph.OneDNNEnabled()
	cpu := sysinfo.ReadCPU()
	probe := func() (bf16probe.Result, error) {
		key := bf16probe.Key(cpu, tfgraph.Version(), on)
		return bf16probe.Get(bf16probe.CacheDir(), key, func() (tfgraph.SpeedProbe, error) {
			o := tfgraph.SessionOptions{IntraOpThreads: int32(r.IntraOpThreads), InterOpThreads: int32(r.InterOpThreads)}
			return tfgraph.ProbeBF16(o, bf16probe.Budget)
		})
	}
	return precisionFor(r, cpu, on || !known, probe)
}

// precisionFor resolves r.Precision for cpu; onednn says whether this
// process runs TensorFlow's oneDNN kernels, and probe measures (or recalls)
// bf16 against fp32 when auto needs it.
func precisionFor(r configs.Runtime, cpu sysinfo.CPU, onednn bool, probe func() (bf16probe.Result, error)) (tfgraph.Precision, string) {
	switch r.Precision {
	case "", "auto":
		if !r.OneDNN || !onednn {
			return tfgraph.PrecisionFP32, "auto: oneDNN is off, and bf16 needs it"
		}
		m, err := probe()
		switch {
		case err != nil:
			return tfgraph.PrecisionFP32, "auto: the bf16 probe failed: " + err.Error()
		case m.Faster():
			return tfgraph.PrecisionBF16, "auto: " + m.Describe()
		}
		return tfgraph.PrecisionFP32, fmt.Sprintf("auto: %s; bf16 needs %.2f×", m.Describe(), bf16probe.MinSpeedup)
	case "bf16":
		if len(cpu.BF16()) == 0 {
			return tfgraph.PrecisionBF16, "runtime.precision; the CPU has no AMX-BF16 or AVX512-BF16, so bfloat16 is emulated (slow)"
		}
		return tfgraph.PrecisionBF16, "runtime.precision"
	}
	return tfgraph.Precision(r.Precision), "runtime.precision"
}

// WithDevices returns a copy of cfg whose runtime.devices are the ones the
// graphs are built for (ResolveDevices): the config as written keeps
// "empty = pick", so a run resumed on another machine picks again.
func WithDevices(cfg *configs.Config) (*configs.Config, error) {
	devs, err := ResolveDevices(cfg.Runtime)
	if err != nil {
		return nil, err
	}
	c := *cfg
	c.Runtime.Devices = devs
	return &c, nil
}

// Device is the device graphs for cfg are built on: the first of
// runtime.devices, or "" (TensorFlow's placer decides) when there is none.
func Device(cfg *configs.Config) string {
	if len(cfg.Runtime.Devices) > 0 {
		return cfg.Runtime.Devices[0]
	}
	return ""
}

// ResolveDevices lists the devices TensorFlow sees with r's session options
// and checks r.Devices against them (see tfgraph.ResolveDevices): the
// devices to build for, never empty.
func ResolveDevices(r configs.Runtime) ([]string, error) {
	visible, err := tfgraph.ListDevices(SessionOptions(r))
	if err != nil {
		return nil, err
	}
	return tfgraph.ResolveDevices(r.Devices, visible)
}

// floatTensor makes a float32 tensor of the given shape from flat values.
func floatTensor(v []float32, dims ...int64) (*tfgraph.Tensor, error) {
	t, err := tfgraph.NewTensor(v)
	if err != nil {
		return nil, err
	}
	if err := t.Reshape(dims); err != nil {
		return nil, err
	}
	return t, nil
}

// imageTensor makes a uint8 [n, h, w, c] tensor from NHWC bytes.
func imageTensor(pix []byte, n, h, w, c int) (*tfgraph.Tensor, error) {
	t, err := tfgraph.NewTensor(pix)
	if err != nil {
		return nil, err
	}
	if err := t.Reshape([]int64{int64(n), int64(h), int64(w), int64(c)}); err != nil {
		return nil, err
	}
	return t, nil
}

// rows copies a [n, d] float32 tensor into dst (len n*d).
func rows(t *tfgraph.Tensor, dst []float32) error {
	m, ok := t.Value().([][]float32)
	if !ok {
		return fmt.Errorf("want a float32 matrix, got %T", t.Value())
	}
	o := 0
	for _, r := range m {
		if o+len(r) > len(dst) {
			return fmt.Errorf("result has more than %d values", len(dst))
		}
		o += copy(dst[o:], r)
	}
	if o != len(dst) {
		return fmt.Errorf("result has %d values, want %d", o, len(dst))
	}
	return nil
}
