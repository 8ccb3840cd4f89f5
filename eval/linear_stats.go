package eval

import (
	"math"

	"github.com/simsiam-go/simsiam/data"
)

// The feature statistics of linear evaluation: which training images give
// them, and the standardisation they define.

// StatsImages bounds the number of (unaugmented) training images, taken at
// even strides, whose features give the standardisation statistics in
// augment mode.
const StatsImages = 10000

// spread returns n images taken at even strides through ds (ds itself when
// it has at most n), so sets stored class by class are sampled fairly.
func spread(ds *data.Images, n int) (*data.Images, error) {
	if ds.N <= n {
		return ds, nil
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = int(int64(i) * int64(ds.N) / int64(n))
	}
	out := *ds
	out.N = n
	var err error
	if out.Pix, err = ds.Batch(idx, nil); err != nil {
		return nil, err
	}
	if out.Labels, err = ds.BatchLabels(idx, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

// featureStats returns the per-dimension mean and inverse standard deviation
// of feature rows [n, d]. Standard deviations are floored at 1% of their
// root-mean-square (and 1e-12), so a feature that never fires in the
// statistics does not get an enormous scale.
func featureStats(f []float32, d int) (mean, inv []float32) {
	n := len(f) / d
	m := make([]float64, d)
	v := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, x := range f[i*d : (i+1)*d] {
			m[j] += float64(x)
		}
	}
	for j := range m {
		m[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, x := range f[i*d : (i+1)*d] {
			dx := float64(x) - m[j]
			v[j] += dx * dx
		}
	}
	var meanVar float64
	for j := range v {
		v[j] /= float64(n)
		meanVar += v[j] / float64(d)
	}
	floor := math.Max(0.01*math.Sqrt(meanVar), 1e-12)
	mean, inv = make([]float32, d), make([]float32, d)
	for j := range m {
		mean[j] = float32(m[j])
		inv[j] = float32(1 / math.Max(math.Sqrt(v[j]), floor))
	}
	return mean, inv
}
