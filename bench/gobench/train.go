package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/bench/internal/harness"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

// scheduleSteps sizes the cosine schedule far beyond the benchmark so that
// the learning rate stays away from zero.
const scheduleSteps = 1_000_000

// normalBatch is a float32 [n, size, size, 3] tensor of N(0, 1) values: a
// stand-in for two normalised views.
func normalBatch(r *rand.Rand, n, size int) (*tfgraph.Tensor, error) {
	v := make([]float32, n*size*size*3)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	t, err := tfgraph.NewTensor(v)
	if err != nil {
		return nil, err
	}
	return t, t.Reshape([]int64{int64(n), int64(size), int64(size), 3})
}

// runGraph times the training step with both views already in memory.
func runGraph(o options, clk harness.Clock, res map[string]any) error {
	batches, err := o.BatchList()
	if err != nil {
		return err
	}
	cfg := o.Config()
	phases := harness.Phases(res)
	t := time.Now()
	st, err := train.BuildStep(&cfg, train.StepOptions{StepsPerEpoch: scheduleSteps, TotalSteps: scheduleSteps})
	if err != nil {
		return err
	}
	phases["graph_build"] = time.Since(t).Seconds()
	describeNetwork(st, o, res)
	t = time.Now()
	sess, err := train.NewSession(st, o.SessionOptions())
	if err != nil {
		return err
	}
	defer sess.Close()
	phases["session_start_and_init"] = time.Since(t).Seconds()

	r := rand.New(rand.NewPCG(uint64(o.Seed), 7))
	var perBatch []map[string]any
	for k, batch := range batches {
		x1, err := normalBatch(r, batch, o.ImageSize)
		if err != nil {
			return err
		}
		x2, err := normalBatch(r, batch, o.ImageSize)
		if err != nil {
			return err
		}
		feeds := map[tfgraph.Output]*tfgraph.Tensor{st.X1: x1, st.X2: x2}

		t = time.Now()
		first, err := sess.TrainStep(feeds)
		if err != nil {
			return err
		}
		if k == 0 {
			phases["first_step"] = time.Since(t).Seconds()
			res["time_to_first_step_s"] = clk.Since()
			res["loss_first"] = first.Loss
		}
		for range o.Warmup {
			if _, err := sess.TrainStep(feeds); err != nil {
				return err
			}
		}
		rates := make([]float64, 0, o.Blocks)
		var last train.Stats
		for range o.Blocks {
			t := time.Now()
			for range o.Steps {
				if last, err = sess.TrainStep(feeds); err != nil {
					return err
				}
			}
			rates = append(rates, float64(batch*o.Steps)/time.Since(t).Seconds())
		}
		entry := map[string]any{"batch": batch, "images_per_sec": harness.Summarize(rates), "loss_last": last.Loss}
		addFLOPRate(entry, res, harness.Median(rates))
		perBatch = append(perBatch, entry)
	}
	for _, key := range []string{"images_per_sec", "loss_last", "achieved_gflops"} {
		res[key] = perBatch[0][key]
	}
	if o.Batches != "" {
		res["per_batch"] = perBatch
	}
	return nil
}

// runE2E times the trainer's loop: prefetched uint8 batches from a CIFAR-10
// file, fed with the step seed, augmented and trained on in one Session.Run.
func runE2E(o options, clk harness.Clock, res map[string]any) error {
	if o.DataPath == "" {
		return fmt.Errorf("e2e mode needs -data (a CIFAR-10-format binary file)")
	}
	cfg := o.Config()
	phases := harness.Phases(res)
	t := time.Now()
	raw, err := os.ReadFile(o.DataPath)
	if err != nil {
		return err
	}
	ds, err := data.DecodeCIFAR10(raw, o.DataPath)
	if err != nil {
		return err
	}
	phases["data_read"] = time.Since(t).Seconds()
	res["data"] = map[string]any{"path": o.DataPath, "images": ds.N, "shape": []int{ds.H, ds.W, ds.C}}
	b, err := data.NewBatcher(ds.N, o.Batch, uint64(o.Seed), true)
	if err != nil {
		return err
	}
	spe := int64(b.StepsPerEpoch())
	if spe == 0 {
		return fmt.Errorf("%d images make no batch of %d", ds.N, o.Batch)
	}

	t = time.Now()
	p, err := train.BuildPipeline(&cfg, spe, scheduleSteps)
	if err != nil {
		return err
	}
	phases["graph_build"] = time.Since(t).Seconds()
	describeNetwork(p.Step, o, res)
	t = time.Now()
	sess, err := train.NewSession(p.Step, o.SessionOptions())
	if err != nil {
		return err
	}
	defer sess.Close()
	phases["session_start_and_init"] = time.Since(t).Seconds()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pf, err := data.NewPrefetcher(ctx, ds, b, data.PrefetchOptions{Depth: cfg.Data.Prefetch})
	if err != nil {
		return err
	}
	defer pf.Close()

	var parts stepParts
	step := int64(0)
	one := func(acc *stepParts) (train.Stats, error) {
		t0 := time.Now()
		batch, err := pf.Next()
		if err != nil {
			return train.Stats{}, err
		}
		t1 := time.Now()
		feeds, err := p.Feeds(batch.Pix, len(batch.Idx), ds.H, ds.W, ds.C, cfg.Seed, step)
		if err != nil {
			return train.Stats{}, err
		}
		t2 := time.Now()
		stats, err := sess.TrainStep(feeds)
		if err != nil {
			return stats, err
		}
		t3 := time.Now()
		step++
		if acc != nil {
			acc.data += t1.Sub(t0)
			acc.feed += t2.Sub(t1)
			acc.graph += t3.Sub(t2)
			acc.steps++
		}
		return stats, nil
	}

	t = time.Now()
	first, err := one(nil)
	if err != nil {
		return err
	}
	phases["first_step"] = time.Since(t).Seconds()
	res["time_to_first_step_s"] = clk.Since()
	res["loss_first"] = first.Loss
	for range o.Warmup {
		if _, err := one(nil); err != nil {
			return err
		}
	}
	rates := make([]float64, 0, o.Blocks)
	var last train.Stats
	for range o.Blocks {
		t := time.Now()
		for range o.Steps {
			if last, err = one(&parts); err != nil {
				return err
			}
		}
		rates = append(rates, float64(o.Batch*o.Steps)/time.Since(t).Seconds())
	}
	res["loss_last"] = last.Loss
	res["images_per_sec"] = harness.Summarize(rates)
	addFLOPRate(res, res, harness.Median(rates))
	breakdown := parts.report()
	if breakdown["assemble_ms"], err = assembleMillis(ds, b); err != nil {
		return fmt.Errorf("batch assembly probe: %w", err)
	}
	res["step_breakdown"] = breakdown
	pf.Close()

	if o.probeAugmnt {
		ms, err := augmentMillis(o, ds, b)
		if err != nil {
			return fmt.Errorf("augmentation probe: %w", err)
		}
		breakdown["augment_alone_ms"] = ms
	}
	return nil
}

// stepParts accumulates the Go-timed parts of the e2e steps.
type stepParts struct {
	data, feed, graph time.Duration
	steps             int
}

// report gives the mean milliseconds per step of every part and its share
// of their sum.
func (p stepParts) report() map[string]any {
	if p.steps == 0 {
		return map[string]any{}
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(p.steps) }
	total := p.data + p.feed + p.graph
	share := func(d time.Duration) float64 { return d.Seconds() / total.Seconds() }
	return map[string]any{
		"steps":    p.steps,
		"data_ms":  ms(p.data),
		"feed_ms":  ms(p.feed),
		"graph_ms": ms(p.graph),
		"total_ms": ms(total),
		"share":    map[string]float64{"data": share(p.data), "feed": share(p.feed), "graph": share(p.graph)},
		"notes": "data = waiting in Prefetcher.Next (assembly runs ahead on a goroutine), " +
			"feed = Pipeline.Feeds (copy of the uint8 batch into a TF tensor + seed), " +
			"graph = Session.Run of augmentation + step",
	}
}

// assembleMillis is the synchronous cost of assembling one batch (what the
// prefetch goroutine does in the background), averaged over up to 20
// batches of epoch 0.
func assembleMillis(ds *data.Images, b *data.Batcher) (float64, error) {
	batches := b.Epoch(0)
	if len(batches) > 20 {
		batches = batches[:20]
	}
	var buf []byte
	t := time.Now()
	for _, idx := range batches {
		var err error
		if buf, err = ds.Batch(idx, buf); err != nil {
			return 0, err
		}
	}
	return time.Since(t).Seconds() * 1e3 / float64(len(batches)), nil
}

// augmentMillis times the in-graph augmentation alone (both views of one
// batch, fetched as float32) in a graph of its own with the same session
// options, to split the graph part of an e2e step.
func augmentMillis(o options, ds *data.Images, b *data.Batcher) (float64, error) {
	cfg := o.Config()
	g := tfgraph.NewGraph()
	s := g.Root().Child("augment_probe")
	img := s.Placeholder("images", tfgraph.Uint8, []int64{-1, -1, -1, 3})
	seed := s.Placeholder("seed", tfgraph.Int64, []int64{2})
	v1, v2 := augment.Views(s.Child("augment"), img, seed, cfg.Augment, cfg.Data)
	// Fetch a scalar so the views are computed but not copied out.
	sum := s.Add(s.Sum(v1, false, 0, 1, 2, 3), s.Sum(v2, false, 0, 1, 2, 3))
	if err := g.Err(); err != nil {
		return 0, err
	}
	sess, err := tfgraph.NewSession(g, o.SessionOptions())
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	pix, err := ds.Batch(b.Epoch(0)[0], nil)
	if err != nil {
		return 0, err
	}
	it, err := tfgraph.NewTensor(pix)
	if err != nil {
		return 0, err
	}
	if err := it.Reshape([]int64{int64(o.Batch), int64(ds.H), int64(ds.W), int64(ds.C)}); err != nil {
		return 0, err
	}
	run := func(step int64) error {
		st, err := tfgraph.NewTensor(augment.StepSeed(o.Seed, step))
		if err != nil {
			return err
		}
		_, err = sess.Run(map[tfgraph.Output]*tfgraph.Tensor{img: it, seed: st}, []tfgraph.Output{sum})
		return err
	}
	for i := range 2 {
		if err := run(int64(i)); err != nil {
			return 0, err
		}
	}
	n := max(o.Steps, 3)
	t := time.Now()
	for i := range n {
		if err := run(int64(100 + i)); err != nil {
			return 0, err
		}
	}
	return time.Since(t).Seconds() * 1e3 / float64(n), nil
}
