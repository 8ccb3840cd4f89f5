package augment

import "github.com/simsiam-go/simsiam/tfgraph"

// SolarizeThreshold is where Solarize starts inverting: values at or above
// it (in [0, 1]) become 1 - x, as in BYOL's augmentation.
const SolarizeThreshold = 0.5

// Solarize inverts the values of the float batch x (in [0, 1]) at or above
// SolarizeThreshold.
func Solarize(s *tfgraph.Scope, x Output) Output {
	s = s.Child("solarize")
	return s.Select(s.Less(x, f32(s, SolarizeThreshold)), x, s.Sub(f32(s, 1), x))
}

// RandomSolarize solarizes the samples of x whose float [N] mask is 1
// (> 0.5) and leaves the others unchanged.
func RandomSolarize(s *tfgraph.Scope, x, mask Output) Output {
	s = s.Child("random_solarize")
	return selectRows(s, s.Less(f32(s, 0.5), mask), Solarize(s, x), x)
}

// solarizeStage solarizes each sample with probability p.
func solarizeStage(v *viewState, seed Output, p float64) {
	s := v.s
	u := uniform(s, "solarize_draws", v.n, 1, seed)
	v.x = RandomSolarize(s, v.x, bernoulli(s, s.Reshape(u, -1), p))
}
