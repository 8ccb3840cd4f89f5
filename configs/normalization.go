package configs

import (
	"errors"
	"fmt"
	"math"
)

// Normalization applies the one rule for data.mean and data.std, which
// [Config.Validate], the augmentation and evaluation graphs and the export
// all follow: an image of the given number of channels is normalised as
// (x - mean[c]) / std[c], where each of data.mean and data.std holds
//
//   - one entry per channel,
//   - one entry, used for every channel, or
//   - no entry: mean 0 and std 1 (no shift, no scaling);
//
// every mean entry is finite and every std entry finite and > 0. It returns
// the per-channel values (channels entries each) in float32, or an error
// naming the key (data.mean or data.std) of every problem.
func (d Data) Normalization(channels int) (mean, std []float32, err error) {
	if channels < 1 {
		return nil, nil, fmt.Errorf("data.mean, data.std: normalising %d channels", channels)
	}
	var errs []error
	for _, p := range d.normalizationProblems(channels) {
		errs = append(errs, fmt.Errorf("%s %s", p.key, p.msg))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return perChannel(d.Mean, channels, 0), perChannel(d.Std, channels, 1), nil
}

// normProblem is one way in which data.mean or data.std breaks the rule of
// [Data.Normalization].
type normProblem struct{ key, msg string }

// normalizationProblems lists the problems of d.Mean and d.Std for an image
// of channels channels.
func (d Data) normalizationProblems(channels int) []normProblem {
	var out []normProblem
	for _, s := range []struct {
		key  string
		vals []float64
		std  bool
	}{{"data.mean", d.Mean, false}, {"data.std", d.Std, true}} {
		if n := len(s.vals); n > 1 && n != channels {
			unit := "channels"
			if channels == 1 {
				unit = "channel"
			}
			out = append(out, normProblem{s.key, fmt.Sprintf("has %d entries for %d %s: want one per channel, or one for all", n, channels, unit)})
		}
		for i, v := range s.vals {
			switch {
			case s.std && (!(v > 0) || math.IsInf(v, 0)):
				out = append(out, normProblem{s.key, fmt.Sprintf("entry %d must be a finite number > 0, got %v", i, v)})
			case !s.std && (math.IsNaN(v) || math.IsInf(v, 0)):
				out = append(out, normProblem{s.key, fmt.Sprintf("entry %d must be finite, got %v", i, v)})
			}
		}
	}
	return out
}

// perChannel spreads vals (none, one, or channels entries) over channels
// entries; none gives def.
func perChannel(vals []float64, channels int, def float32) []float32 {
	out := make([]float32, channels)
	for i := range out {
		switch len(vals) {
		case 0:
			out[i] = def
		case 1:
			out[i] = float32(vals[0])
		default:
			out[i] = float32(vals[i])
		}
	}
	return out
}
