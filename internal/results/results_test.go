package results

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/runfolder"
)

func sample() *File {
	top5 := 0.99
	return &File{
		Dataset: "toy", Measured: "2026-12-01T11:00:00Z",
		Machine:      Machine{CPU: "Test CPU", Cores: 2, Vector: []string{"avx2", "fma"}, OneDNN: true, TensorFlow: "2.18.1"},
		ConfigSHA256: "0123456789abcdef0123",
		Protocol: Protocol{KNNKs: []int{1, 200}, KNNTemperature: 0.1, LinearEpochs: []int{30}, LinearLR: 0.1, LinearBatch: 256,
			TrainImages: 600, TestImages: 100},
		Train: Train{Run: "runs/toy", Epochs: 2, Steps: 20, Seconds: 840, KNNK: 200,
			Curve: []Point{{Epoch: 1, Step: 10, Top1: 0.7}, {Epoch: 2, Step: 20, Top1: 0.8}}},
		Entries: []Entry{
			{Name: Encoder, Label: "enc", Dim: 128, KNN: []Score{{K: 1, Top1: 0.81}, {K: 200, Top1: 0.8, Top5: &top5}}, Linear: []Linear{{Epochs: 30, Top1: 0.86}}},
			{Name: RandomInit, Label: "rand", Dim: 128, KNN: []Score{{K: 1, Top1: 0.5}, {K: 200, Top1: 0.6}}, Linear: []Linear{{Epochs: 30, Top1: 0.67}}},
			{Name: RawPixels, Label: "pix", Dim: 784, KNN: []Score{{K: 1, Top1: 0.8576}, {K: 200, Top1: 0.7885}}, Linear: []Linear{{Epochs: 30, Top1: 0.84}}},
		},
		Seconds: 95,
	}
}

func TestTable(t *testing.T) {
	got := Table(sample())
	for _, want := range []string{
		"| features | dim | kNN k=1 | kNN k=200 | linear, 30 epochs |\n| --- | ---: | ---: | ---: | ---: |\n",
		"| enc | 128 | 81.00 % | **80.00 %** | **86.00 %** |\n",
		"| pix | 784 | **85.76 %** | 78.85 % | 84.00 % |\n", // the best of a column is bold, whoever has it
		"| rand | 128 | 50.00 % | 60.00 % | 67.00 % |\n",
		"2 epochs (20 steps) in 14 min 0 s (`runs/toy`)",
		"Measured on Test CPU (2 cores; avx2 fma), oneDNN on, TensorFlow 2.18.1, 2026-12-01T11:00:00Z; config sha256 `0123456789ab`; evaluation 1 min 35 s.",
		"from `results/toy.json`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "toy.json")
	f := sample()
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
	g, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if Table(g) != Table(f) || *g.Entries[0].KNN[1].Top5 != 0.99 || g.Entries[1].KNN[1].Top5 != nil {
		t.Errorf("read back differs:\n%s\nvs\n%s", Table(g), Table(f))
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*File)
		want   string
	}{
		{"missing k", func(f *File) { f.Entries[1].KNN = f.Entries[1].KNN[:1] }, `entry "random_init": 1 kNN`},
		{"other k", func(f *File) { f.Entries[0].KNN[1].K = 20 }, "k=20, the protocol's is 200"},
		{"other linear length", func(f *File) { f.Entries[2].Linear[0].Epochs = 10 }, "10 epochs, the protocol's 30"},
		{"percent not fraction", func(f *File) { f.Entries[0].KNN[0].Top1 = 81 }, "want a fraction"},
		{"bad curve", func(f *File) { f.Train.Curve[0].Top1 = -1 }, "kNN curve point 0"},
		{"no dataset", func(f *File) { f.Dataset = "" }, "dataset name"},
		{"no ks", func(f *File) { f.Protocol.KNNKs = nil }, "no kNN k"},
	} {
		f := sample()
		tc.change(f)
		err := f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if err := f.Write(filepath.Join(t.TempDir(), "x.json")); err == nil {
			t.Errorf("%s: Write accepted an invalid file", tc.name)
		}
	}
	if err := sample().Validate(); err != nil {
		t.Errorf("valid sample: %v", err)
	}
}

func TestReadUnknownField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte(`{"dataset":"x","knn_top1":0.5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "knn_top1") {
		t.Errorf("error %v, want the unknown field named", err)
	}
}

func TestReadMetrics(t *testing.T) {
	dir := t.TempDir()
	path := runfolder.Dir(dir).Metrics()
	lines := `{"step":10,"epoch":0.01,"loss":-0.2,"time":"2026-12-01T11:00:00Z"}
{"step":937,"epoch":1,"knn_top1":0.7712,"knn_top5":0.99}

{"step":1874,"epoch":2,"knn_top1":0.8057}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, loss, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{Epoch: 1, Step: 937, Top1: 0.7712}, {Epoch: 2, Step: 1874, Top1: 0.8057}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("curve %v, want %v", got, want)
	}
	if wantLoss := (LossPoint{Epoch: 0.01, Step: 10, Loss: -0.2}); len(loss) != 1 || loss[0] != wantLoss {
		t.Errorf("loss %v, want [%v]", loss, wantLoss)
	}
	if err := os.WriteFile(path, []byte(lines+"{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("torn line: error %v, want one naming line 5", err)
	}
	if _, _, err := ReadMetrics(filepath.Join(dir, "none.jsonl")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestReadMetricsOfRecords: the curves read back from what a run writes
// (runfolder's records); the skip record is neither.
func TestReadMetricsOfRecords(t *testing.T) {
	d := runfolder.Dir(t.TempDir())
	f, err := os.Create(d.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	top5 := 0.9
	for _, rec := range []any{
		runfolder.StepRecord{Step: 5, Epoch: 0.5, Loss: -0.5, LR: 0.1, Time: "t"},
		runfolder.SkipRecord{Step: 6, Skip: 1, NonFinite: "loss is", Time: "t"},
		runfolder.KNNRecord{Step: 10, Epoch: 1, KNNTop1: 0.75, KNNTop5: &top5},
	} {
		if err := runfolder.WriteRecord(f, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	curve, loss, err := ReadMetrics(d.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	if want := []Point{{Epoch: 1, Step: 10, Top1: 0.75}}; len(curve) != 1 || curve[0] != want[0] {
		t.Errorf("curve %v, want %v", curve, want)
	}
	if want := (LossPoint{Epoch: 0.5, Step: 5, Loss: -0.5}); len(loss) != 1 || loss[0] != want {
		t.Errorf("loss %v, want [%v]", loss, want)
	}
}

func TestReplace(t *testing.T) {
	doc := "# x\n<!-- results:toy:begin -->\nold\n<!-- results:toy:end -->\ntail\n"
	got, err := Replace(doc, "toy", "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# x\n<!-- results:toy:begin -->\nnew\n<!-- results:toy:end -->\ntail\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if s, _ := Section(got, "toy"); s != "new\n" {
		t.Errorf("section %q", s)
	}
	if _, err := Replace(doc, "other", "x"); err == nil || !strings.Contains(err.Error(), "results:other:begin") {
		t.Errorf("missing markers: error %v", err)
	}
}

// The plot is well-formed SVG with one point per monitor record plus the
// random-init start, the raw-pixel line, and points placed by accuracy.
func TestSVG(t *testing.T) {
	b := SVG(sample())
	var doc struct {
		XMLName xml.Name
		Circles []struct {
			CY    float64 `xml:"cy,attr"`
			Title string  `xml:"title"`
		} `xml:"circle"`
		Lines []struct {
			Dash string `xml:"stroke-dasharray,attr"`
		} `xml:"line"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b)
	}
	if doc.XMLName.Local != "svg" {
		t.Errorf("root %q", doc.XMLName.Local)
	}
	if len(doc.Circles) != 3 {
		t.Fatalf("%d points, want 3 (random init + 2 epochs)", len(doc.Circles))
	}
	if doc.Circles[0].Title != "epoch 0: 60.00 %" || doc.Circles[2].Title != "epoch 2: 80.00 %" {
		t.Errorf("point titles %q, %q", doc.Circles[0].Title, doc.Circles[2].Title)
	}
	// Higher accuracy is higher up (smaller y).
	if !(doc.Circles[0].CY > doc.Circles[1].CY && doc.Circles[1].CY > doc.Circles[2].CY) {
		t.Errorf("y of 60/70/80 %%: %v %v %v, want decreasing", doc.Circles[0].CY, doc.Circles[1].CY, doc.Circles[2].CY)
	}
	dashed := 0
	for _, l := range doc.Lines {
		if l.Dash != "" {
			dashed++
		}
	}
	if dashed != 1 || !strings.Contains(string(b), "raw pixels 78.85 %") {
		t.Errorf("%d dashed lines, want the one raw-pixel line at 78.85 %%", dashed)
	}
}

func TestDuration(t *testing.T) {
	for sec, want := range map[float64]string{42: "42 s", 840: "14 min 0 s", 899.6: "15 min 0 s", 7260: "2 h 1 min"} {
		if got := Duration(sec); got != want {
			t.Errorf("Duration(%v) = %q, want %q", sec, got, want)
		}
	}
}
