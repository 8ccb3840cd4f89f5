package eval

import (
	"context"
	"io"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
)

// Source says what an evaluation measures: the encoder of a checkpoint,
// the same network at random initialisation, or the raw pixels.
type Source struct {
	// Pixels measures the raw pixels (values in [0, 1]): the baseline
	// without a network. Checkpoint is then unused.
	Pixels bool
	// Checkpoint is the encoder's checkpoint prefix (see
	// ResolveCheckpoint); "" is the random initialisation drawn from
	// cfg.Seed.
	Checkpoint string
}

// Features are the feature rows of a memory bank (or linear training set)
// and a test split: Dim values a row, in image order.
type Features struct {
	Bank, Test []float32
	Dim        int
}

// ExtractFeatures computes src's features of bank and test: the pixels
// (PixelFeatures), or the frozen encoder cfg builds (NewEncoder) run over
// both sets in batches of FeatureBatch, with a progress bar on log when it
// is set. It is the one feature extractor of the kNN and linear
// evaluations of a checkpoint.
func ExtractFeatures(ctx context.Context, cfg *configs.Config, src Source, bank, test *data.Images, log io.Writer) (*Features, error) {
	if src.Pixels {
		return &Features{Bank: PixelFeatures(bank), Test: PixelFeatures(test), Dim: bank.ImageSize()}, nil
	}
	enc, err := NewEncoder(cfg, src.Checkpoint)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	enc.Log = log
	return enc.SetFeatures(ctx, bank, test)
}

// SetFeatures runs the encoder over bank and test in batches of
// FeatureBatch.
func (e *Encoder) SetFeatures(ctx context.Context, bank, test *data.Images) (*Features, error) {
	f := &Features{Dim: e.Dim}
	var err error
	if f.Bank, err = e.FeaturesContext(ctx, bank, FeatureBatch); err != nil {
		return nil, err
	}
	if f.Test, err = e.FeaturesContext(ctx, test, FeatureBatch); err != nil {
		return nil, err
	}
	return f, nil
}

// KNN scores the test rows against the bank with every k of ks and
// temperature t (KNNMulti), with the labels of bank and test and as many
// classes as the larger of the two sets has.
func (f *Features) KNN(ctx context.Context, bank, test *data.Images, ks []int, t float64) ([]KNNScore, error) {
	nc, err := numClasses(bank, test)
	if err != nil {
		return nil, err
	}
	return KNNMulti(ctx, f.Bank, bank.Labels, f.Dim, f.Test, test.Labels, nc, ks, t)
}

// KNNEval is the kNN evaluation of src: it reads cfg.Eval's splits
// (OpenEvalDataContext), extracts their features and scores the test
// split with every k of ks and temperature train.knn_temperature, from one
// pass (features and similarities computed once).
func KNNEval(ctx context.Context, cfg *configs.Config, src Source, ks []int, log io.Writer) ([]KNNScore, error) {
	bank, test, err := OpenEvalDataContext(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f, err := ExtractFeatures(ctx, cfg, src, bank, test, log)
	if err != nil {
		return nil, err
	}
	return f.KNN(ctx, bank, test, ks, cfg.Train.KNNTemperature)
}
