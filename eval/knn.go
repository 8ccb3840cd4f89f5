package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// KNNBatch is the number of test rows scored per Session.Run: only a
// KNNBatch × bank-size similarity matrix ever exists.
const KNNBatch = 256

// TopK is the "top-5" of the reported top-5 accuracies.
const TopK = 5

// KNN is the weighted k-nearest-neighbour classifier of InstDisc (Wu et al.
// 2018), the monitor of SimSiam's CIFAR experiments. Feature rows (d values
// each) are l2-normalised; for each test row the k most cosine-similar rows
// of the memory bank vote for their labels with weight exp(sim/t), and the
// class with the largest total wins. top1 is the fraction of test rows whose
// label wins; top5 the fraction whose label is among the five largest
// totals, NaN when there are fewer than five classes.
//
// The bank lives in a TensorFlow variable assigned once; test rows go
// through in batches of KNNBatch (similarities by MatMul, neighbours by
// TopKV2, votes by OneHot and Sum). k larger than the bank is clamped to the
// bank size. Errors: empty bank or test set, label counts that do not match
// the rows, labels outside 0..numClasses-1, non-finite features, k or t not
// positive. Once ctx is done it stops between batches and returns ctx's
// error.
func KNN(ctx context.Context, bank []float32, bankLabels []int32, d int, test []float32, testLabels []int32, numClasses, k int, t float64) (top1, top5 float64, err error) {
	scores, err := KNNMulti(ctx, bank, bankLabels, d, test, testLabels, numClasses, []int{k}, t)
	if err != nil {
		return 0, 0, err
	}
	return scores[0].Top1, scores[0].Top5, nil
}

// KNNScore is the kNN accuracy with K neighbours.
type KNNScore struct {
	// K is the number of neighbours asked for (the bank size when the bank
	// is smaller: every row votes).
	K int
	// Top1 and Top5 are as KNN's (Top5 NaN with fewer than five classes).
	Top1, Top5 float64
}

// KNNMulti is KNN for several k at once: the similarities and the largest
// k's neighbours are computed once per test batch, and each k votes with
// the first k of them, so the scores equal separate KNN calls. Scores come
// back in the order of ks; ks must be non-empty and every k > 0.
func KNNMulti(ctx context.Context, bank []float32, bankLabels []int32, d int, test []float32, testLabels []int32, numClasses int, ks []int, t float64) ([]KNNScore, error) {
	ranked, err := knnRank(ctx, bank, bankLabels, d, test, numClasses, ks, t)
	if err != nil {
		return nil, err
	}
	if len(testLabels) != len(ranked[0]) {
		return nil, fmt.Errorf("knn: %d test rows but %d test labels", len(ranked[0]), len(testLabels))
	}
	if err := checkLabels("test", testLabels, numClasses); err != nil {
		return nil, err
	}
	out := make([]KNNScore, len(ks))
	for i, k := range ks {
		out[i].K = k
		out[i].Top1, out[i].Top5 = accuracy(ranked[i], testLabels)
	}
	return out, nil
}

// accuracy scores ranked class lists (best first) against labels: top-1,
// and top-5 (NaN when the lists are shorter than five).
func accuracy(ranked [][]int32, labels []int32) (top1, top5 float64) {
	var hit1, hit5 int
	for i, r := range ranked {
		for j, c := range r {
			if c == labels[i] {
				if j == 0 {
					hit1++
				}
				if j < TopK {
					hit5++
				}
				break
			}
		}
	}
	n := float64(len(labels))
	top1, top5 = float64(hit1)/n, float64(hit5)/n
	if len(ranked) > 0 && len(ranked[0]) < TopK {
		top5 = math.NaN()
	}
	return top1, top5
}

func checkLabels(what string, labels []int32, numClasses int) error {
	for i, l := range labels {
		if l < 0 || int(l) >= numClasses {
			return fmt.Errorf("knn: %s label %d of row %d outside 0..%d", what, l, i, numClasses-1)
		}
	}
	return nil
}

// l2Rows returns a copy of x [n, d] with every row scaled to unit length
// (all-zero rows stay zero). It fails on NaN or infinite values.
func l2Rows(what string, x []float32, d int) ([]float32, error) {
	out := make([]float32, len(x))
	for r := 0; r*d < len(x); r++ {
		row := x[r*d : (r+1)*d]
		var ss float64
		for _, v := range row {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("knn: %s row %d holds %v (did training diverge?)", what, r, v)
			}
			ss += f * f
		}
		scale := 1 / math.Max(math.Sqrt(ss), 1e-12)
		for j, v := range row {
			out[r*d+j] = float32(float64(v) * scale)
		}
	}
	return out, nil
}

// knnRank returns, for each k of ks and every test row, the classes ranked
// by their kNN vote (best first), min(TopK, numClasses) of them.
func knnRank(ctx context.Context, bank []float32, bankLabels []int32, d int, test []float32, numClasses int, ks []int, t float64) ([][][]int32, error) {
	if len(ks) == 0 {
		return nil, errors.New("knn: no k given")
	}
	for _, k := range ks {
		if k <= 0 {
			return nil, fmt.Errorf("knn: k = %d, want > 0", k)
		}
	}
	switch {
	case d <= 0:
		return nil, fmt.Errorf("knn: feature dimension %d, want > 0", d)
	case len(bank) == 0 || len(bankLabels) == 0:
		return nil, errors.New("knn: empty memory bank (no training images)")
	case len(test) == 0:
		return nil, errors.New("knn: empty test split")
	case len(bank)%d != 0 || len(bank)/d != len(bankLabels):
		return nil, fmt.Errorf("knn: memory bank has %d values, not %d labels × dimension %d", len(bank), len(bankLabels), d)
	case len(test)%d != 0:
		return nil, fmt.Errorf("knn: test features have %d values, not a multiple of dimension %d", len(test), d)
	case numClasses < 1:
		return nil, fmt.Errorf("knn: %d classes", numClasses)
	case !(t > 0) || math.IsInf(t, 0):
		return nil, fmt.Errorf("knn: temperature %v, want a finite number > 0", t)
	}
	if err := checkLabels("memory bank", bankLabels, numClasses); err != nil {
		return nil, err
	}
	nb, nt := len(bankLabels), len(test)/d
	clamped := make([]int, len(ks))
	for i, k := range ks {
		clamped[i] = min(k, nb) // a bank smaller than k: every row votes
	}
	top := min(TopK, numClasses)
	bn, err := l2Rows("memory bank", bank, d)
	if err != nil {
		return nil, err
	}
	tn, err := l2Rows("test", test, d)
	if err != nil {
		return nil, err
	}

	kg, err := buildKNN(bankLabels, d, numClasses, clamped, top, t)
	if err != nil {
		return nil, err
	}
	sess, err := tfgraph.NewSession(kg.g, tfgraph.SessionOptions{})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	bt, err := floatTensor(bn, int64(nb), int64(d))
	if err != nil {
		return nil, err
	}
	q, ranked := kg.query, kg.ranked
	if _, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{kg.bankIn: bt}, nil, kg.bank.Assign); err != nil {
		return nil, fmt.Errorf("knn: loading the memory bank: %w", err)
	}
	out := make([][][]int32, len(ks))
	for i := 0; i < nt; i += KNNBatch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("knn: stopped at test row %d of %d: %w", i, nt, err)
		}
		n := min(KNNBatch, nt-i)
		qt, err := floatTensor(tn[i*d:(i+n)*d], int64(n), int64(d))
		if err != nil {
			return nil, err
		}
		res, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{q: qt}, ranked)
		if err != nil {
			return nil, fmt.Errorf("knn: test rows %d..%d: %w", i, i+n-1, err)
		}
		for j, r := range res {
			m, ok := r.Value().([][]int32)
			if !ok || len(m) != n {
				return nil, fmt.Errorf("knn: unexpected result %T", r.Value())
			}
			out[j] = append(out[j], m...)
		}
	}
	return out, nil
}

// knnGraph holds the memory bank as a variable and ranks the classes of a
// batch of l2-normalised query rows by their weighted kNN vote.
type knnGraph struct {
	g             *tfgraph.Graph
	bank          *tfgraph.Variable
	bankIn, query tfgraph.Output
	ranked        []tfgraph.Output // int32 [B, top], one per k
}

// buildKNN builds the kNN graph for a bank with these labels (d features a
// row) and temperature t, ranking the top classes for each k of ks: one
// similarity MatMul and one TopKV2 with the largest k, then each k's vote
// over the first k neighbours.
func buildKNN(bankLabels []int32, d, numClasses int, ks []int, top int, t float64) (*knnGraph, error) {
	g := tfgraph.NewGraph()
	kg := &knnGraph{g: g}
	s := g.Root().Child("knn")
	kg.bank = s.Var("bank", []int64{int64(len(bankLabels)), int64(d)}, func(is *tfgraph.Scope, dims []int64, _ tfgraph.Output) tfgraph.Output {
		kg.bankIn = is.Placeholder("value", tfgraph.Float, dims)
		return kg.bankIn
	}, 0, tfgraph.NonTrainable())
	labels := s.Const("bank_labels", bankLabels)
	kg.query = s.Placeholder("query", tfgraph.Float, []int64{-1, int64(d)})
	sim := s.MatMul(kg.query, kg.bank.Read(), false, true) // [B, nb]
	kmax := slices.Max(ks)
	vals, idx := s.TopK(sim, int32(kmax)) // [B, kmax], best first
	// exp((sim - best)/t): the shift scales a row's votes by one factor, so
	// the ranking equals exp(sim/t)'s while small t cannot overflow.
	best := s.Slice(vals, []int32{0, 0}, []int32{-1, 1})
	w := s.Exp(s.Div(s.Sub(vals, best), s.Const("t", float32(t))))
	votes := s.Mul(s.OneHot(s.Gather(labels, idx), int32(numClasses)), s.Reshape(w, -1, int32(kmax), 1)) // [B, kmax, C]
	for i, k := range ks {
		ksc := s.Child(fmt.Sprintf("vote%d", i))                               // one scope per entry: clamped ks may repeat
		first := ksc.Slice(votes, []int32{0, 0, 0}, []int32{-1, int32(k), -1}) // the k nearest
		_, r := ksc.TopK(ksc.Sum(first, false, 1), int32(top))                 // [B, top]
		kg.ranked = append(kg.ranked, r)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("knn graph: %w", err)
	}
	return kg, nil
}

// RunKNN extracts features of cfg.Eval's train split (the memory bank) and
// test split with the encoder of checkpoint ("" = random init) and returns
// the kNN accuracies with train.knn_k neighbours and temperature
// train.knn_temperature (KNNEval with one k).
func RunKNN(ctx context.Context, cfg *configs.Config, checkpoint string, log io.Writer) (top1, top5 float64, err error) {
	scores, err := KNNEval(ctx, cfg, Source{Checkpoint: checkpoint}, []int{cfg.Train.KNNK}, log)
	if err != nil {
		return 0, 0, err
	}
	return scores[0].Top1, scores[0].Top5, nil
}

// KNN extracts the features of bank and test and runs KNN on them, with as
// many classes as the larger of the two sets has.
func (e *Encoder) KNN(ctx context.Context, bank, test *data.Images, k int, t float64) (top1, top5 float64, err error) {
	if err := checkLabelled(bank, "memory bank"); err != nil {
		return 0, 0, err
	}
	if err := checkLabelled(test, "test split"); err != nil {
		return 0, 0, err
	}
	if _, err := numClasses(bank, test); err != nil {
		return 0, 0, err
	}
	f, err := e.SetFeatures(ctx, bank, test)
	if err != nil {
		return 0, 0, err
	}
	scores, err := f.KNN(ctx, bank, test, []int{k}, t)
	if err != nil {
		return 0, 0, err
	}
	return scores[0].Top1, scores[0].Top5, nil
}
