// Command goinfer measures SavedModel inference from Go (package serve) for
// the comparison with tf.saved_model.load in bench/pybench.py.
//
//	-mode export  builds the benchmarked SimSiam network, saves its freshly
//	              initialised variables as a training checkpoint and exports
//	              it with export.Export to -out/savedmodel.
//	-mode infer   loads -model with serve.Load and times Model.Embed (uint8
//	              images in, embeddings out) for each of -batches, one
//	              Session.Run per call.
//
// It is a main of its own so that bench/gobench still builds while the
// export and serve packages change.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/simsiam-go/simsiam/bench/internal/harness"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/serve"
	"github.com/simsiam-go/simsiam/train"
)

func main() {
	clk := harness.NewClock()
	var o harness.Options
	o.Register(flag.CommandLine, "infer", "export (write a SavedModel) or infer (time serve.Model.Embed)")
	out := flag.String("out", "", "export: directory that receives checkpoint/ and savedmodel/")
	modelDir := flag.String("model", "", "infer: SavedModel directory")
	seconds := flag.Float64("seconds", 1, "infer: minimum duration of one timed block")
	flag.Parse()

	res := o.Header(clk)
	var err error
	switch o.Mode {
	case "export":
		err = runExport(&o, *out, res)
	case "infer":
		err = runInfer(&o, clk, *modelDir, *seconds, res)
	default:
		err = fmt.Errorf("unknown -mode %q (want export or infer)", o.Mode)
	}
	harness.Emit(res, err)
}

// runExport writes a checkpoint of the initial network and exports it.
func runExport(o *harness.Options, out string, res map[string]any) error {
	if out == "" {
		return fmt.Errorf("export mode needs -out")
	}
	cfg := o.Config()
	t := time.Now()
	st, err := train.BuildStep(&cfg, train.StepOptions{StepsPerEpoch: 1, TotalSteps: 1})
	if err != nil {
		return err
	}
	sess, err := train.NewSession(st, o.SessionOptions())
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := os.MkdirAll(filepath.Join(out, "checkpoint"), 0o755); err != nil {
		return err
	}
	prefix := filepath.Join(out, "checkpoint", "ckpt-0")
	if err := st.Saver.Save(sess.Session, prefix); err != nil {
		return err
	}
	dir := filepath.Join(out, "savedmodel")
	if err := export.Export(&cfg, prefix, dir, true); err != nil {
		return err
	}
	res["savedmodel"] = dir
	harness.Phases(res)["export"] = time.Since(t).Seconds()
	return nil
}

// runInfer times Embed for every batch size.
func runInfer(o *harness.Options, clk harness.Clock, dir string, seconds float64, res map[string]any) error {
	if dir == "" {
		return fmt.Errorf("infer mode needs -model")
	}
	batches, err := o.BatchList()
	if err != nil {
		return err
	}
	biggest := 0
	for _, b := range batches {
		biggest = max(biggest, b)
	}
	// Images: the first ones of the benchmark's data file, or noise.
	const h, w, c = 32, 32, 3
	pix := make([]byte, biggest*h*w*c)
	if o.DataPath != "" {
		raw, err := os.ReadFile(o.DataPath)
		if err != nil {
			return err
		}
		ds, err := data.DecodeCIFAR10(raw, o.DataPath)
		if err != nil {
			return err
		}
		for i := 0; i < biggest; i++ {
			im, err := ds.Image(i % ds.N)
			if err != nil {
				return err
			}
			copy(pix[i*h*w*c:], im)
		}
	} else {
		r := rand.New(rand.NewPCG(uint64(o.Seed), 5))
		for i := range pix {
			pix[i] = byte(r.IntN(256))
		}
	}

	phases := harness.Phases(res)
	t := time.Now()
	m, err := serve.Load(dir, serve.WithBatchSize(biggest), serve.WithSessionOptions(o.SessionOptions()))
	if err != nil {
		return err
	}
	defer m.Close()
	phases["load"] = time.Since(t).Seconds()

	var perBatch []map[string]any
	for k, b := range batches {
		in := pix[:b*h*w*c]
		t := time.Now()
		emb, err := m.Embed(in, b, h, w, c)
		if err != nil {
			return err
		}
		first := time.Since(t).Seconds()
		if k == 0 {
			phases["first_call"] = first
			res["time_to_first_embedding_s"] = clk.Since()
			res["embedding_dim"] = len(emb[0])
		}
		for range o.Warmup {
			if _, err := m.Embed(in, b, h, w, c); err != nil {
				return err
			}
		}
		rates := make([]float64, 0, o.Blocks)
		calls := 0
		for range o.Blocks {
			n := 0
			t := time.Now()
			for n == 0 || time.Since(t).Seconds() < seconds {
				if _, err := m.Embed(in, b, h, w, c); err != nil {
					return err
				}
				n++
			}
			rates = append(rates, float64(n*b)/time.Since(t).Seconds())
			calls += n
		}
		perBatch = append(perBatch, map[string]any{
			"batch": b, "images_per_sec": harness.Summarize(rates), "first_call_s": first,
			"ms_per_call": 1e3 * float64(b) / harness.Median(rates), "calls": calls,
		})
	}
	res["per_batch"] = perBatch
	res["images_per_sec"] = perBatch[0]["images_per_sec"]
	return nil
}
