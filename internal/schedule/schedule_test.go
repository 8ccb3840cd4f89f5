package schedule

import (
	"math"
	"testing"
)

func TestCosine(t *testing.T) {
	tests := []struct {
		name                string
		base                float64
		step, warmup, total int64
		want                float64
	}{
		{"start, no warm-up", 0.1, 0, 0, 100, 0.1},
		{"half way", 0.1, 50, 0, 100, 0.05},
		{"end", 0.1, 100, 0, 100, 0},
		{"past the end", 0.1, 150, 0, 100, 0},
		{"first warm-up step", 0.8, 0, 10, 110, 0.08},
		{"last warm-up step", 0.8, 9, 10, 110, 0.8},
		{"after warm-up", 0.8, 10, 10, 110, 0.8},
		{"quarter of the decay", 1, 35, 10, 110, 0.5 * (1 + math.Cos(math.Pi/4))},
		{"total equals warm-up: the step after", 1, 11, 10, 10, 0},
	}
	for _, tt := range tests {
		if got := Cosine(tt.base, tt.step, tt.warmup, tt.total); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Cosine(%v, %d, %d, %d) = %v, want %v", tt.name, tt.base, tt.step, tt.warmup, tt.total, got, tt.want)
		}
	}
}
