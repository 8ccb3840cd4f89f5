package eval

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/data"
)

// refKNNScores is the weighted kNN vote written as plain loops in float64:
// cosine similarity to every bank row, the k most similar (ties: lower
// index first), each adding exp(sim/t) to its label's score.
func refKNNScores(bank []float32, labels []int32, d int, q []float32, numClasses, k int, t float64) []float64 {
	norm := func(v []float32) []float64 {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		n := math.Sqrt(ss)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / n
		}
		return out
	}
	qn := norm(q)
	nb := len(labels)
	sims := make([]float64, nb)
	order := make([]int, nb)
	for i := 0; i < nb; i++ {
		b := norm(bank[i*d : (i+1)*d])
		for j := range b {
			sims[i] += b[j] * qn[j]
		}
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return sims[order[a]] > sims[order[b]] })
	scores := make([]float64, numClasses)
	for _, i := range order[:min(k, nb)] {
		scores[labels[i]] += math.Exp(sims[i] / t)
	}
	return scores
}

// refRank orders classes by score, best first (ties: lower class first).
func refRank(scores []float64) []int32 {
	idx := make([]int32, len(scores))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

func randFeatures(r *rand.Rand, n, d int) []float32 {
	out := make([]float32, n*d)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func randLabels(r *rand.Rand, n, c int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(r.IntN(c))
	}
	return out
}

func TestKNNHandMadeCase(t *testing.T) {
	// Three classes on the unit circle at 0°, 120° and 240°, two bank points
	// each (unnormalised lengths: KNN normalises), and test points near each.
	pt := func(deg, r float64) []float32 {
		a := deg * math.Pi / 180
		return []float32{float32(r * math.Cos(a)), float32(r * math.Sin(a))}
	}
	var bank []float32
	for _, p := range [][]float32{pt(-10, 1), pt(10, 3), pt(110, 2), pt(130, 0.5), pt(230, 1), pt(250, 7)} {
		bank = append(bank, p...)
	}
	bankLabels := []int32{0, 0, 1, 1, 2, 2}
	var test []float32
	for _, p := range [][]float32{pt(5, 1), pt(125, 9), pt(245, 0.1), pt(355, 2)} {
		test = append(test, p...)
	}
	// k = 2: each test point's two neighbours are its own class's points.
	ranks, err := knnRank(context.Background(), bank, bankLabels, 2, test, 3, []int{2}, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	ranked := ranks[0]
	for i, want := range []int32{0, 1, 2, 0} {
		if ranked[i][0] != want {
			t.Errorf("test %d: predicted %d, want %d (ranking %v)", i, ranked[i][0], want, ranked[i])
		}
		if len(ranked[i]) != 3 {
			t.Errorf("test %d: ranking %v, want all 3 classes", i, ranked[i])
		}
	}
	top1, top5, err := KNN(context.Background(), bank, bankLabels, 2, test, []int32{0, 1, 2, 1}, 3, 2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if top1 != 0.75 {
		t.Errorf("top1 = %v, want 0.75 (3 of 4 labels right)", top1)
	}
	if !math.IsNaN(top5) {
		t.Errorf("top5 = %v with 3 classes, want NaN", top5)
	}
	// A point at 61° with k = 6 (every bank point votes): class 1's points
	// are 49° and 69° away, class 0's 51° and 71°, class 2's 169° and 171°,
	// so the ranking is 1, 0, 2.
	ranks, err = knnRank(context.Background(), bank, bankLabels, 2, pt(61, 1), 3, []int{6}, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	ranked = ranks[0]
	if got := ranked[0]; got[0] != 1 || got[1] != 0 || got[2] != 2 {
		t.Errorf("61° point ranked %v, want [1 0 2]", got)
	}
}

func TestKNNMatchesGoReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const d, nb, nt, c = 8, 300, 600, 7 // nt > KNNBatch with a remainder
	bank := randFeatures(r, nb, d)
	bankLabels := randLabels(r, nb, c)
	test := randFeatures(r, nt, d)
	testLabels := randLabels(r, nt, c)
	for _, tc := range []struct {
		k int
		t float64
	}{{20, 0.1}, {1, 0.1}, {50, 0.5}, {1000, 0.07}} { // k = 1000 > bank: clamped to 300
		ranks, err := knnRank(context.Background(), bank, bankLabels, d, test, c, []int{tc.k}, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		ranked := ranks[0]
		if len(ranked) != nt {
			t.Fatalf("k=%d: %d rankings for %d rows", tc.k, len(ranked), nt)
		}
		var hit1, hit5 int
		mismatch := 0
		for i := 0; i < nt; i++ {
			scores := refKNNScores(bank, bankLabels, d, test[i*d:(i+1)*d], c, tc.k, tc.t)
			want := refRank(scores)[:TopK]
			got := ranked[i]
			if len(got) != TopK {
				t.Fatalf("row %d: %d classes ranked, want %d", i, len(got), TopK)
			}
			for j := range want {
				if got[j] != want[j] {
					// Accept a swap only between (numerically) tied scores.
					if math.Abs(scores[got[j]]-scores[want[j]]) > 1e-4*math.Max(scores[want[0]], 1e-30) {
						t.Errorf("k=%d t=%v row %d: ranking %v, reference %v (scores %v)", tc.k, tc.t, i, got, want, scores)
					}
					mismatch++
					break
				}
			}
			if want[0] == testLabels[i] {
				hit1++
			}
			for _, cl := range want {
				if cl == testLabels[i] {
					hit5++
				}
			}
		}
		if mismatch > 2 {
			t.Errorf("k=%d: %d rows ranked differently from the reference", tc.k, mismatch)
		}
		top1, top5, err := KNN(context.Background(), bank, bankLabels, d, test, testLabels, c, tc.k, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if w1, w5 := float64(hit1)/nt, float64(hit5)/nt; math.Abs(top1-w1) > 2.0/nt || math.Abs(top5-w5) > 2.0/nt {
			t.Errorf("k=%d: top1 %v top5 %v, reference %v %v", tc.k, top1, top5, w1, w5)
		}
		t.Logf("k=%d t=%v: top1 %.3f top5 %.3f (chance %.3f), rows differing from the reference: %d", tc.k, tc.t, top1, top5, 1.0/c, mismatch)
	}
}

func TestKNNErrors(t *testing.T) {
	bank := []float32{1, 0, 0, 1}
	labels := []int32{0, 1}
	test := []float32{1, 0}
	tl := []int32{0}
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"empty bank", func() error { _, _, err := KNN(context.Background(), nil, nil, 2, test, tl, 2, 1, 0.1); return err }, "empty memory bank"},
		{"empty test", func() error { _, _, err := KNN(context.Background(), bank, labels, 2, nil, nil, 2, 1, 0.1); return err }, "empty test"},
		{"bank labels", func() error {
			_, _, err := KNN(context.Background(), bank, []int32{0}, 2, test, tl, 2, 1, 0.1)
			return err
		}, "1 labels"},
		{"test labels", func() error {
			_, _, err := KNN(context.Background(), bank, labels, 2, test, []int32{0, 1}, 2, 1, 0.1)
			return err
		}, "2 test labels"},
		{"test dim", func() error {
			_, _, err := KNN(context.Background(), bank, labels, 2, []float32{1, 0, 1}, tl, 2, 1, 0.1)
			return err
		}, "multiple of dimension"},
		{"label range", func() error {
			_, _, err := KNN(context.Background(), bank, []int32{0, 2}, 2, test, tl, 2, 1, 0.1)
			return err
		}, "outside 0..1"},
		{"test label range", func() error {
			_, _, err := KNN(context.Background(), bank, labels, 2, test, []int32{-1}, 2, 1, 0.1)
			return err
		}, "outside 0..1"},
		{"k", func() error { _, _, err := KNN(context.Background(), bank, labels, 2, test, tl, 2, 0, 0.1); return err }, "k = 0"},
		{"t", func() error { _, _, err := KNN(context.Background(), bank, labels, 2, test, tl, 2, 1, 0); return err }, "temperature"},
		{"nan", func() error {
			_, _, err := KNN(context.Background(), bank, labels, 2, []float32{nan, 0}, tl, 2, 1, 0.1)
			return err
		}, "diverge"},
		{"d", func() error { _, _, err := KNN(context.Background(), bank, labels, 0, test, tl, 2, 1, 0.1); return err }, "dimension 0"},
	} {
		err := tc.run()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestPixelFeatures(t *testing.T) {
	imgs := &data.Images{N: 2, H: 1, W: 2, C: 1, Pix: []byte{0, 255, 51, 102}, Labels: []int32{0, 1}, NumClasses: 2}
	got := PixelFeatures(imgs)
	want := []float32{0, 1, 0.2, 0.4}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("PixelFeatures = %v, want %v", got, want)
		}
	}
	// Raw-pixel kNN on two obviously different images.
	top1, _, err := KNN(context.Background(), got, imgs.Labels, 2, []float32{0, 0.9, 0.5, 1}, []int32{0, 1}, 2, 1, 0.1)
	if err != nil || top1 != 1 {
		t.Errorf("pixel kNN: top1 %v err %v", top1, err)
	}
}

// TestKNNStopsWhenCancelled: a done context stops the feature extraction
// and the kNN ranking before their next batch, with the context's error.
func TestKNNStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bank, labels := []float32{1, 0, 0, 1}, []int32{0, 1}
	if _, _, err := KNN(ctx, bank, labels, 2, bank, labels, 2, 1, 0.1); !errors.Is(err, context.Canceled) {
		t.Errorf("KNN with a cancelled context: %v, want context.Canceled", err)
	}
	e, err := NewEncoder(tinyConfig(1), "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.FeaturesContext(ctx, colourSet(1, 10), 4); !errors.Is(err, context.Canceled) {
		t.Errorf("FeaturesContext with a cancelled context: %v, want context.Canceled", err)
	}
}

// KNNMulti scores every k from one pass; each must equal a KNN call of its
// own, including a k above the bank size (clamped) and a repeated k.
func TestKNNMultiEqualsSeparateCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const d, nb, nt, c = 6, 400, 300, 10
	bank := randFeatures(r, nb, d)
	bankLabels := randLabels(r, nb, c)
	test := randFeatures(r, nt, d)
	testLabels := randLabels(r, nt, c)
	ks := []int{200, 1, 20, 1000, 20}
	scores, err := KNNMulti(context.Background(), bank, bankLabels, d, test, testLabels, c, ks, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != len(ks) {
		t.Fatalf("%d scores for %d ks", len(scores), len(ks))
	}
	distinct := map[float64]bool{}
	for i, k := range ks {
		top1, top5, err := KNN(context.Background(), bank, bankLabels, d, test, testLabels, c, k, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if s := scores[i]; s.K != k || s.Top1 != top1 || s.Top5 != top5 {
			t.Errorf("k=%d: KNNMulti gave %+v, KNN top-1 %v top-5 %v", k, s, top1, top5)
		}
		distinct[top1] = true
	}
	if len(distinct) < 2 {
		t.Errorf("every k gave the same top-1 %v: the ks are not voting separately", scores[0].Top1)
	}
}

func TestKNNMultiRejectsBadKs(t *testing.T) {
	bank, labels := []float32{1, 0, 0, 1}, []int32{0, 1}
	for _, ks := range [][]int{nil, {20, 0}, {-1}} {
		if _, err := KNNMulti(context.Background(), bank, labels, 2, bank, labels, 2, ks, 0.1); err == nil {
			t.Errorf("ks %v: no error", ks)
		}
	}
}
