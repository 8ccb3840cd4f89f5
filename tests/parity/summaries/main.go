// Command summaries writes a few steps of scalar summaries with
// tfgraph.SummaryWriter into -logdir and prints, as JSON on stdout, every
// (tag, step, value) it wrote, so tests/python/test_summaries.py can check the
// event file with TensorFlow's own reader.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/simsiam-go/simsiam/tfgraph"
)

type record struct {
	Tag   string  `json:"tag"`
	Step  int64   `json:"step"`
	Value float32 `json:"value"`
}

func main() {
	logdir := flag.String("logdir", "", "directory for the event file")
	steps := flag.Int("steps", 5, "steps to write")
	flag.Parse()
	if *logdir == "" {
		fmt.Fprintln(os.Stderr, "summaries: -logdir is required")
		os.Exit(2)
	}
	recs, err := run(*logdir, *steps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "summaries:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(recs); err != nil {
		fmt.Fprintln(os.Stderr, "summaries:", err)
		os.Exit(1)
	}
}

func run(logdir string, steps int) ([]record, error) {
	g := tfgraph.NewGraph()
	sw := tfgraph.NewSummaryWriter(g, logdir, "loss", "lr", "knn/top1")
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	if err := sw.Init(sess); err != nil {
		return nil, err
	}
	var recs []record
	for i := 0; i < steps; i++ {
		step := int64(10 * (i + 1)) // steps need not start at 0 nor be consecutive
		vals := map[string]float32{"loss": 2 / float32(i+1), "lr": 0.05 * float32(steps-i) / float32(steps)}
		if i%2 == 1 { // a tag written only at some steps
			vals["knn/top1"] = 0.1 * float32(i)
		}
		if err := sw.Scalars(sess, step, vals); err != nil {
			return nil, err
		}
		for tag, v := range vals {
			recs = append(recs, record{Tag: tag, Step: step, Value: v})
		}
	}
	if err := sw.Close(sess); err != nil {
		return nil, err
	}
	return recs, nil
}
