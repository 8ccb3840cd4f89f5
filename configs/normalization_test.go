package configs

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNormalization(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name      string
		mean, std []float64
		channels  int
		wantMean  []float32
		wantStd   []float32
		wantErr   []string // every one must appear; nil = no error
	}{
		{"per channel", []float64{0.1, 0.2, 0.3}, []float64{0.5, 0.25, 2}, 3, []float32{0.1, 0.2, 0.3}, []float32{0.5, 0.25, 2}, nil},
		{"grey", []float64{0.286}, []float64{0.353}, 1, []float32{0.286}, []float32{0.353}, nil},
		{"one for every channel", []float64{0.5}, []float64{0.25}, 3, []float32{0.5, 0.5, 0.5}, []float32{0.25, 0.25, 0.25}, nil},
		{"none", nil, nil, 3, []float32{0, 0, 0}, []float32{1, 1, 1}, nil},
		{"empty lists", []float64{}, []float64{}, 1, []float32{0}, []float32{1}, nil},
		{"mean only", []float64{0.5, 0.4, 0.3}, nil, 3, []float32{0.5, 0.4, 0.3}, []float32{1, 1, 1}, nil},
		{"two for three", []float64{0.1, 0.2}, nil, 3, nil, nil, []string{"data.mean has 2 entries for 3 channels"}},
		{"three for one", nil, []float64{1, 1, 1}, 1, nil, nil, []string{"data.std has 3 entries for 1 channel:"}},
		{"both wrong", []float64{0, 0}, []float64{1, 1, 1, 1}, 3, nil, nil, []string{"data.mean has 2 entries", "data.std has 4 entries"}},
		{"std zero", nil, []float64{0.2, 0, 0.2}, 3, nil, nil, []string{"data.std entry 1 must be a finite number > 0, got 0"}},
		{"std negative", nil, []float64{-1}, 3, nil, nil, []string{"data.std entry 0 must be a finite number > 0, got -1"}},
		{"std infinite", nil, []float64{inf}, 1, nil, nil, []string{"data.std entry 0 must be a finite number > 0"}},
		{"std NaN", nil, []float64{nan}, 1, nil, nil, []string{"data.std entry 0 must be a finite number > 0"}},
		{"mean infinite", []float64{0.5, inf, 0.5}, nil, 3, nil, nil, []string{"data.mean entry 1 must be finite, got +Inf"}},
		{"mean NaN", []float64{nan}, nil, 3, nil, nil, []string{"data.mean entry 0 must be finite"}},
		{"no channels", nil, nil, 0, nil, nil, []string{"normalising 0 channels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mean, std, err := Data{Mean: tt.mean, Std: tt.std}.Normalization(tt.channels)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !slices.Equal(mean, tt.wantMean) || !slices.Equal(std, tt.wantStd) {
					t.Errorf("mean %v, std %v; want %v, %v", mean, std, tt.wantMean, tt.wantStd)
				}
				return
			}
			if err == nil || mean != nil || std != nil {
				t.Fatalf("mean %v, std %v, error %v; want an error", mean, std, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Validate applies the same rule, under the same keys.
			if tt.channels != 1 && tt.channels != 3 {
				return
			}
			c := Default()
			c.Data.Channels, c.Data.Mean, c.Data.Std = tt.channels, tt.mean, tt.std
			var want []string
			for _, k := range []string{"data.mean", "data.std"} {
				if strings.Contains(err.Error(), k+" ") {
					want = append(want, k)
				}
			}
			if got := failingKeys(c.Validate(false)); !slices.Equal(got, want) {
				t.Errorf("Validate fails %v, want %v", got, want)
			}
		})
	}
}

// TestValidateAcceptsWhatNormalizationAccepts checks the other direction:
// every accepted pair passes Validate too.
func TestValidateAcceptsWhatNormalizationAccepts(t *testing.T) {
	for _, ch := range []int{1, 3} {
		for _, n := range []int{0, 1, ch} {
			c := Default()
			c.Data.Channels = ch
			c.Data.Mean, c.Data.Std = make([]float64, n), slices.Repeat([]float64{0.5}, n)
			if _, _, err := c.Data.Normalization(ch); err != nil {
				t.Fatalf("%d channels, %d entries: %v", ch, n, err)
			}
			if err := c.Validate(false); err != nil {
				t.Errorf("%d channels, %d entries: Validate = %v", ch, n, err)
			}
		}
	}
}
