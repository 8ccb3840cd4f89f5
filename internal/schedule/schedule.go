// Package schedule is the learning-rate schedule of pretraining and of
// linear evaluation, in plain Go: linear warm-up, then cosine decay to 0.
// train.Schedule builds the same function as graph ops (its test checks
// that the two agree step for step); linear evaluation uses this one.
package schedule

import "math"

// Cosine is the learning rate at step (0-based): base*(step+1)/warmup
// during the warmup steps, then base*0.5*(1+cos(pi*p)) with p the fraction
// of the remaining total-warmup steps done, held at 0 past total.
func Cosine(base float64, step, warmup, total int64) float64 {
	t := float64(step)
	if warmup > 0 && step < warmup {
		return base * (t + 1) / float64(warmup)
	}
	decay := float64(total - warmup)
	if decay < 1 {
		decay = 1
	}
	p := math.Min(math.Max(t-float64(warmup), 0)/decay, 1)
	return base * 0.5 * (1 + math.Cos(math.Pi*p))
}
