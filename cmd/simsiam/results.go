package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/simsiam-go/simsiam/eval/measure"
	"github.com/simsiam-go/simsiam/internal/results"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// intList is a flag holding comma-separated positive integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

const resultsUsage = `Usage: simsiam results measure|render|compare [flags]

measure evaluates a trained encoder and both baselines (the same network at
random initialisation, raw pixels) with one protocol: kNN top-1/top-5 at
every --k (temperature train.knn_temperature, one similarity pass), and a
linear classifier on cached, standardised features for every
--linear-epochs, features extracted once per encoder. It writes one JSON
file with the machine (CPU model, vector extensions, oneDNN, TensorFlow
version), the sha256 of the effective config YAML, wall times and the run's
kNN monitor curve (from RUN/metrics.jsonl).

render writes the Markdown table of such a file between the
<!-- results:DATASET:begin/end --> markers of the README and an SVG plot of
the kNN monitor over epochs.

compare puts several measure files of runs that differ in one setting (fp32
against bf16 training) into one table, the first file the reference, between
the <!-- results:NAME:begin/end --> markers, and plots their loss and kNN
monitor curves side by side; files are taken in path order.

Examples:
  simsiam results measure --config runs/fashion_mnist_demo/config.yaml --run runs/fashion_mnist_demo --out results/fashion_mnist.json
  simsiam results render --in results/fashion_mnist.json --readme README.md --plot docs/knn_curve.svg
  simsiam results compare --in results/precision/0-fp32.json,results/precision/1-bf16.json --name precision --plot docs/precision_curves.svg

Flags:
`

func cmdResults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "measure" && args[0] != "render" && args[0] != "compare") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, resultsUsage)
			return flag.ErrHelp
		}
		return usageError{errors.New("usage: simsiam results measure|render|compare [flags]")}
	}
	switch args[0] {
	case "render":
		return cmdResultsRender(args[1:], stdout, stderr)
	case "compare":
		return cmdResultsCompare(args[1:], stdout, stderr)
	}
	return cmdResultsMeasure(ctx, args[1:], stdout, stderr)
}

func cmdResultsCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results compare", resultsUsage, stderr)
	in := fs.String("in", "", "measure files, comma-separated (two or more; taken in path order, the first is the reference)")
	name := fs.String("name", "", "the README markers' name")
	readme := fs.String("readme", "README.md", "Markdown file with the markers (\"\" for none)")
	plot := fs.String("plot", "", "SVG plot to write (\"\" for none)")
	title := fs.String("title", "", "the plot's title (default: NAME: training loss and kNN monitor)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sources := strings.Split(*in, ",")
	if *in == "" || len(sources) < 2 || *name == "" {
		return usageError{errors.New("results compare: --in needs two or more files and --name a marker name")}
	}
	slices.Sort(sources)
	files := make([]*results.File, len(sources))
	for i, src := range sources {
		f, err := results.Read(src)
		if err != nil {
			return err
		}
		files[i] = f
	}
	table, err := results.CompareTable(files, sources)
	if err != nil {
		return err
	}
	if *readme != "" {
		if err := writeSection(*readme, *name, table, stdout); err != nil {
			return err
		}
	}
	if *plot != "" {
		t := *title
		if t == "" {
			t = *name + ": training loss and kNN monitor"
		}
		if err := tfgraph.WriteFileAtomic(*plot, results.CompareSVG(files, t)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *plot)
	}
	return nil
}

// writeSection puts body between the <!-- results:NAME:begin/end -->
// markers of the Markdown file at path.
func writeSection(path, name, body string, stdout io.Writer) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := results.Replace(string(doc), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tfgraph.WriteFileAtomic(path, []byte(out)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the %s table into %s\n", name, path)
	return nil
}

func cmdResultsRender(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results render", resultsUsage, stderr)
	in := fs.String("in", "results/fashion_mnist.json", "results JSON file")
	readme := fs.String("readme", "README.md", "Markdown file with the results markers (\"\" for none)")
	plot := fs.String("plot", "docs/knn_curve.svg", "SVG plot to write (\"\" for none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := results.Read(*in)
	if err != nil {
		return err
	}
	if *readme != "" {
		if err := writeSection(*readme, f.Dataset, results.Table(f), stdout); err != nil {
			return err
		}
	}
	if *plot != "" {
		if err := tfgraph.WriteFileAtomic(*plot, results.SVG(f)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *plot)
	}
	return nil
}

func cmdResultsMeasure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("results measure", resultsUsage, stderr)
	var cf configFlags
	cf.register(fs)
	runDir := fs.String("run", "runs/fashion_mnist_demo", "the pretraining run's output_dir (metrics.jsonl, config.yaml, checkpoints)")
	ckpt := fs.String("checkpoint", "", "encoder checkpoint (default: the newest in RUN/checkpoints)")
	out := fs.String("out", "results/fashion_mnist.json", "JSON file to write")
	dataset := fs.String("dataset", "fashion_mnist", "dataset name (the README markers' name)")
	label := fs.String("label", "", "the encoder row's label (default: SimSiam, RUN's preset and epochs)")
	ks := intList{1, 20, 200}
	fs.Var(&ks, "k", "kNN neighbour counts, comma-separated")
	var epochs intList
	fs.Var(&epochs, "linear-epochs", "linear classifier lengths, comma-separated (default: linear.epochs)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := cf.loadForTF(true, stderr)
	if err != nil {
		return err
	}
	f, err := measure.Measure(ctx, cfg, measure.Options{Run: *runDir, Checkpoint: *ckpt, Dataset: *dataset, Label: *label,
		KNNKs: ks, LinearEpochs: epochs, Log: stderr, Out: stdout})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := f.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", *out, results.Duration(f.Seconds))
	measuredOn(stdout)
	return nil
}
