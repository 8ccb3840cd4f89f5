// Command gobench measures the Go SimSiam trainer for the comparison with the
// Python/Keras reference in bench/pybench.py. One process measures one
// configuration and prints one JSON line on stdout; bench/driver.py runs the
// processes interleaved with the Python ones and aggregates them.
//
// Modes:
//
//	graph  the training step with both views already in memory (the feeds
//	       are the same two float32 tensors every step): graph run only.
//	       -batches 32,64,... measures several batch sizes in one session.
//	e2e    the trainer's loop: batches assembled from a CIFAR-10-format file
//	       by data.Prefetcher, fed as uint8, augmented inside the graph.
//
// The time to the first step counts from BENCH_LAUNCH_NS (the wall-clock
// time, in Unix nanoseconds, at which the driver started the process) when
// it is set, otherwise from the start of main.
package main

import (
	"flag"
	"fmt"

	"github.com/simsiam-go/simsiam/bench/internal/harness"
)

// options are the command-line settings of one run.
type options struct {
	harness.Options
	matmulN     int
	matmulRuns  int
	probeAugmnt bool
}

func main() {
	clk := harness.NewClock()
	var o options
	o.Register(flag.CommandLine, "graph", "graph (views in memory) or e2e (file -> batches -> in-graph augmentation -> step)")
	flag.IntVar(&o.matmulN, "matmul", 0, "also time an NxN float32 MatMul in this process (0 = skip)")
	flag.IntVar(&o.matmulRuns, "matmul-runs", 5, "timed MatMul runs per block")
	flag.BoolVar(&o.probeAugmnt, "augment-probe", true, "e2e: also time the augmentation alone in a separate graph")
	flag.Parse()

	res := o.Header(clk)
	var err error
	switch o.Mode {
	case "graph":
		err = runGraph(o, clk, res)
	case "e2e":
		if o.Batches != "" {
			err = fmt.Errorf("-batches is for graph mode")
			break
		}
		err = runE2E(o, clk, res)
	default:
		err = fmt.Errorf("unknown -mode %q (want graph or e2e)", o.Mode)
	}
	if err == nil && o.matmulN > 0 {
		var mm map[string]any
		mm, err = matmulRate(o.matmulN, o.matmulRuns, o.Blocks, o.SessionOptions())
		res["matmul"] = mm
	}
	harness.Emit(res, err)
}
