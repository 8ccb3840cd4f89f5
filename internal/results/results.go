// Package results holds measured evaluation results as data: the JSON file
// `simsiam results measure` writes (results/NAME.json), the Markdown table
// and the kNN-over-epochs plot `simsiam results render` generates from it,
// and the reader of a training run's metrics.jsonl. It has no TensorFlow
// dependency, so the README check runs without one.
package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/simsiam-go/simsiam/runfolder"
)

// Entry names: the trained encoder and the two baselines.
const (
	Encoder    = "encoder"
	RandomInit = "random_init"
	RawPixels  = "raw_pixels"
)

// File is one measurement: an encoder and its baselines evaluated with one
// protocol on one machine.
type File struct {
	// Dataset names the data (it is also the README marker's name).
	Dataset string `json:"dataset"`
	// Measured is when the measurement finished (RFC 3339, UTC).
	Measured string  `json:"measured"`
	Machine  Machine `json:"machine"`
	// ConfigSHA256 is the sha256 of the effective config's YAML (as
	// `simsiam config show` prints it), so a figure can be matched with
	// the exact settings.
	ConfigSHA256 string   `json:"config_sha256"`
	Protocol     Protocol `json:"protocol"`
	// Train describes the pretraining run the encoder comes from.
	Train Train `json:"train"`
	// Entries are the encoder and the baselines, in table order.
	Entries []Entry `json:"entries"`
	// Seconds is the wall time of the whole measurement.
	Seconds float64 `json:"wall_seconds"`
}

// Machine is where the figures were measured: they are exact for one CPU
// model and kernel library, not across them.
type Machine struct {
	CPU        string   `json:"cpu"`
	Cores      int      `json:"cores"`
	Vector     []string `json:"vector_extensions"`
	OneDNN     bool     `json:"onednn"`
	TensorFlow string   `json:"tensorflow"`
}

// vectors lists the vector extensions for a table line.
func (m Machine) vectors() string {
	if len(m.Vector) == 0 {
		return "no AVX"
	}
	return strings.Join(m.Vector, " ")
}

// Protocol is how every entry was evaluated.
type Protocol struct {
	// KNNKs are the neighbour counts, KNNTemperature the vote temperature
	// (weights exp(sim/T) on l2-normalised features).
	KNNKs          []int   `json:"knn_ks"`
	KNNTemperature float64 `json:"knn_temperature"`
	// LinearEpochs are the classifier lengths; each entry has one linear
	// result per value.
	LinearEpochs []int   `json:"linear_epochs"`
	LinearLR     float64 `json:"linear_lr"`
	LinearBatch  int     `json:"linear_batch_size"`
	// TrainImages (memory bank, classifier training) and TestImages.
	TrainImages int `json:"train_images"`
	TestImages  int `json:"test_images"`
}

// Train is the pretraining run.
type Train struct {
	Run    string `json:"run"`
	Epochs int    `json:"epochs"`
	Steps  int64  `json:"steps"`
	// Seconds is the wall time from the run's config.yaml being written
	// to its last metrics.jsonl record (a run trained in one go).
	Seconds float64 `json:"wall_seconds"`
	// KNNK is the monitor's k (its temperature is the protocol's).
	KNNK int `json:"knn_k"`
	// Precision is the run's runtime.precision as its config.yaml has it
	// (the arithmetic it trained in; the evaluation's may differ).
	Precision string `json:"precision,omitempty"`
	// Curve is the kNN monitor over training, from metrics.jsonl.
	Curve []Point `json:"knn_curve"`
	// Loss is the logged training loss, from metrics.jsonl.
	Loss []LossPoint `json:"loss_curve,omitempty"`
}

// Point is one kNN monitor record.
type Point struct {
	Epoch float64 `json:"epoch"`
	Step  int64   `json:"step"`
	Top1  float64 `json:"top1"`
}

// LossPoint is one logged training step.
type LossPoint struct {
	Epoch float64 `json:"epoch"`
	Step  int64   `json:"step"`
	Loss  float64 `json:"loss"`
}

// Entry is one row of the table.
type Entry struct {
	// Name is Encoder, RandomInit or RawPixels; Label the row's text.
	Name  string `json:"name"`
	Label string `json:"label"`
	// Dim is the feature dimension.
	Dim int `json:"features"`
	// Checkpoint is the encoder's checkpoint prefix ("" for the baselines).
	Checkpoint string   `json:"checkpoint,omitempty"`
	KNN        []Score  `json:"knn"`
	Linear     []Linear `json:"linear"`
	// Seconds is the wall time of this entry (features, kNN, linear).
	Seconds float64 `json:"wall_seconds"`
}

// Score is a kNN result.
type Score struct {
	K    int      `json:"k"`
	Top1 float64  `json:"top1"`
	Top5 *float64 `json:"top5,omitempty"`
}

// Linear is a linear-evaluation result.
type Linear struct {
	Epochs int      `json:"epochs"`
	Top1   float64  `json:"top1"`
	Top5   *float64 `json:"top5,omitempty"`
}

// Finite returns &x, or nil when x is NaN or infinite (JSON has no NaN).
func Finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// Read reads and checks a results file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	return &f, nil
}

// Write writes f as indented JSON.
func (f *File) Write(path string) error {
	if err := f.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Validate checks that every entry has a result for every k and linear
// length of the protocol, and that accuracies are fractions.
func (f *File) Validate() error {
	if f.Dataset == "" || strings.ContainsAny(f.Dataset, " \n<>") {
		return fmt.Errorf("dataset name %q: want a non-empty word", f.Dataset)
	}
	if len(f.Protocol.KNNKs) == 0 {
		return errors.New("protocol lists no kNN k")
	}
	if len(f.Entries) == 0 {
		return errors.New("no entries")
	}
	frac := func(what string, x float64) error {
		if !(x >= 0 && x <= 1) {
			return fmt.Errorf("%s = %v, want a fraction in [0, 1]", what, x)
		}
		return nil
	}
	for _, e := range f.Entries {
		if len(e.KNN) != len(f.Protocol.KNNKs) || len(e.Linear) != len(f.Protocol.LinearEpochs) {
			return fmt.Errorf("entry %q: %d kNN and %d linear results for a protocol of %d ks and %d linear lengths",
				e.Name, len(e.KNN), len(e.Linear), len(f.Protocol.KNNKs), len(f.Protocol.LinearEpochs))
		}
		for i, s := range e.KNN {
			if s.K != f.Protocol.KNNKs[i] {
				return fmt.Errorf("entry %q: kNN result %d has k=%d, the protocol's is %d", e.Name, i, s.K, f.Protocol.KNNKs[i])
			}
			if err := frac(fmt.Sprintf("entry %q kNN k=%d top-1", e.Name, s.K), s.Top1); err != nil {
				return err
			}
		}
		for i, l := range e.Linear {
			if l.Epochs != f.Protocol.LinearEpochs[i] {
				return fmt.Errorf("entry %q: linear result %d has %d epochs, the protocol's %d", e.Name, i, l.Epochs, f.Protocol.LinearEpochs[i])
			}
			if err := frac(fmt.Sprintf("entry %q linear %d epochs top-1", e.Name, l.Epochs), l.Top1); err != nil {
				return err
			}
		}
	}
	for i, p := range f.Train.Curve {
		if err := frac(fmt.Sprintf("kNN curve point %d", i), p.Top1); err != nil {
			return err
		}
	}
	return nil
}

// Entry returns the entry with this name, or nil.
func (f *File) Entry(name string) *Entry {
	for i := range f.Entries {
		if f.Entries[i].Name == name {
			return &f.Entries[i]
		}
	}
	return nil
}

// ReadMetrics reads a run's metrics.jsonl in file order: the kNN monitor
// records (those with "knn_top1") and the logged losses (those with
// "loss"; training logs no non-finite step). A line that is not a JSON
// object is an error naming its number.
func ReadMetrics(path string) ([]Point, []LossPoint, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	var knn []Point
	var loss []LossPoint
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rec, err := runfolder.ParseRecord(line)
		if err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		var step int64
		if rec.Step != nil {
			step = *rec.Step
		}
		if rec.KNNTop1 != nil {
			knn = append(knn, Point{Epoch: rec.Epoch, Step: step, Top1: *rec.KNNTop1})
		}
		if rec.Loss != nil {
			loss = append(loss, LossPoint{Epoch: rec.Epoch, Step: step, Loss: *rec.Loss})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return knn, loss, nil
}

// Markers returns the README markers that enclose the table of dataset.
func Markers(dataset string) (begin, end string) {
	return "<!-- results:" + dataset + ":begin -->\n", "<!-- results:" + dataset + ":end -->"
}

// Section returns the text between dataset's markers in doc.
func Section(doc, dataset string) (string, error) {
	begin, end := Markers(dataset)
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q ... %q markers", strings.TrimSpace(begin), end)
	}
	return doc[i+len(begin) : j], nil
}

// Replace returns doc with the text between dataset's markers replaced by
// body.
func Replace(doc, dataset, body string) (string, error) {
	if _, err := Section(doc, dataset); err != nil {
		return "", err
	}
	begin, end := Markers(dataset)
	i := strings.Index(doc, begin) + len(begin)
	j := strings.Index(doc, end)
	return doc[:i] + body + doc[j:], nil
}

// pctCell is a fraction as "85.76 %".
func pctCell(x float64) string { return fmt.Sprintf("%.2f %%", 100*x) }

// Duration formats seconds as "14 min 0 s" (or "42 s").
func Duration(sec float64) string {
	s := int(math.Round(sec))
	if s < 60 {
		return fmt.Sprintf("%d s", s)
	}
	if s < 3600 {
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %d min", s/3600, (s%3600)/60)
}

// writeHeader writes a Markdown table's header: the leading columns (lead,
// with their alignment row align), then one column per kNN k and linear
// length of the protocol.
func (p Protocol) writeHeader(b *strings.Builder, lead, align string) {
	b.WriteString(lead)
	for _, k := range p.KNNKs {
		fmt.Fprintf(b, " kNN k=%d |", k)
	}
	for _, e := range p.LinearEpochs {
		fmt.Fprintf(b, " linear, %d epochs |", e)
	}
	b.WriteString("\n" + align + strings.Repeat(" ---: |", len(p.KNNKs)+len(p.LinearEpochs)) + "\n")
}

// Table renders f as the README's Markdown: one row per entry with kNN
// top-1 at every k and linear top-1 at every length (the best figure of
// each column in bold), then the lines saying how and where it was
// measured.
func Table(f *File) string {
	var b strings.Builder
	p := f.Protocol
	p.writeHeader(&b, "| features | dim |", "| --- | ---: |")
	bestKNN := make([]float64, len(p.KNNKs))
	bestLin := make([]float64, len(p.LinearEpochs))
	for _, e := range f.Entries {
		for i, s := range e.KNN {
			bestKNN[i] = max(bestKNN[i], s.Top1)
		}
		for i, l := range e.Linear {
			bestLin[i] = max(bestLin[i], l.Top1)
		}
	}
	cell := func(x, best float64) string {
		if x == best {
			return "**" + pctCell(x) + "**"
		}
		return pctCell(x)
	}
	for _, e := range f.Entries {
		fmt.Fprintf(&b, "| %s | %d |", e.Label, e.Dim)
		for i, s := range e.KNN {
			b.WriteString(" " + cell(s.Top1, bestKNN[i]) + " |")
		}
		for i, l := range e.Linear {
			b.WriteString(" " + cell(l.Top1, bestLin[i]) + " |")
		}
		b.WriteString("\n")
	}
	m := f.Machine
	vec := m.vectors()
	dnn := "off"
	if m.OneDNN {
		dnn = "on"
	}
	fmt.Fprintf(&b, "\nkNN: T=%g on l2-normalised features, %d-image memory bank, %d test images; linear: SGD on cached, standardised features, batch %d, lr %g, cosine.\n",
		p.KNNTemperature, p.TrainImages, p.TestImages, p.LinearBatch, p.LinearLR)
	t := f.Train
	fmt.Fprintf(&b, "Pretraining: %d epochs (%d steps) in %s (`%s`). ", t.Epochs, t.Steps, Duration(t.Seconds), t.Run)
	fmt.Fprintf(&b, "Measured on %s (%d cores; %s), oneDNN %s, TensorFlow %s, %s; config sha256 `%.12s`; evaluation %s.\n",
		m.CPU, m.Cores, vec, dnn, m.TensorFlow, f.Measured, f.ConfigSHA256, Duration(f.Seconds))
	fmt.Fprintf(&b, "Generated by `bin/simsiam results render` from `results/%s.json`.\n", f.Dataset)
	return b.String()
}

// SVG plots the kNN monitor's top-1 over epochs (epoch 0 is the random-init
// network's kNN at the monitor's k when the file has it) with the raw-pixel
// kNN at the same k as a dashed line: a self-contained SVG document.
func SVG(f *File) []byte {
	const w, h, left, right, top, bottom = 640.0, 360.0, 60.0, 20.0, 40.0, 50.0
	pts := slices.Clone(f.Train.Curve)
	k := f.Train.KNNK
	ki := slices.Index(f.Protocol.KNNKs, k)
	var pixel *float64
	if ki >= 0 {
		if r := f.Entry(RandomInit); r != nil {
			pts = append([]Point{{Epoch: 0, Top1: r.KNN[ki].Top1}}, pts...)
		}
		if p := f.Entry(RawPixels); p != nil {
			pixel = &p.KNN[ki].Top1
		}
	}
	lo, hi, maxEpoch := 1.0, 0.0, 1.0
	for _, p := range pts {
		lo, hi, maxEpoch = math.Min(lo, p.Top1), math.Max(hi, p.Top1), math.Max(maxEpoch, p.Epoch)
	}
	if pixel != nil {
		lo, hi = math.Min(lo, *pixel), math.Max(hi, *pixel)
	}
	if len(pts) == 0 {
		lo, hi = 0, 1
	}
	lo = math.Max(0, math.Floor(lo*10-0.5)/10)
	hi = math.Min(1, math.Ceil(hi*10+0.5)/10)
	x := func(e float64) float64 { return left + (w-left-right)*e/maxEpoch }
	y := func(a float64) float64 { return h - bottom - (h-top-bottom)*(a-lo)/(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%g" y="22" text-anchor="middle" font-size="14">%s: kNN top-1 (k=%d, T=%g) over pretraining epochs</text>`+"\n",
		w/2, f.Dataset, k, f.Protocol.KNNTemperature)
	// Grid and axis labels every 5 points of accuracy.
	for a := lo; a <= hi+1e-9; a += 0.05 {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(a), w-right, y(a))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%.0f %%</text>`+"\n", left-6, y(a)+4, 100*a)
	}
	step := math.Max(1, math.Ceil(maxEpoch/10))
	for e := 0.0; e <= maxEpoch+1e-9; e += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%g</text>`+"\n", x(e), h-bottom+18, e)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">epoch (0 = random initialisation)</text>`+"\n", (left+w-right)/2, h-12)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#333"/>`+"\n", left, top, w-left-right, h-top-bottom)
	if pixel != nil {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#c33" stroke-dasharray="6 4"/>`+"\n", left, y(*pixel), w-right, y(*pixel))
		// Below the line: the encoder's label goes above its last point.
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" fill="#c33">raw pixels %.2f %%</text>`+"\n", w-right-4, y(*pixel)+16, 100**pixel)
	}
	if len(pts) > 0 {
		b.WriteString(`<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="`)
		for i, p := range pts {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.Epoch), y(p.Top1))
		}
		b.WriteString(`"/>` + "\n")
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f5fbf"><title>epoch %g: %.2f %%</title></circle>`+"\n", x(p.Epoch), y(p.Top1), p.Epoch, 100*p.Top1)
		}
		last := pts[len(pts)-1]
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#1f5fbf">encoder %.2f %%</text>`+"\n", x(last.Epoch)-6, y(last.Top1)-10, 100*last.Top1)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
