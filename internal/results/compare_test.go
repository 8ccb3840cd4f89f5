package results

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

// pair is a fp32 run and a bf16 run of sample()'s protocol.
func pair() []*File {
	a, b := sample(), sample()
	a.Train.Precision, b.Train.Precision = "fp32", "bf16"
	a.Train.Loss = []LossPoint{{Epoch: 0.5, Step: 10, Loss: -0.2}, {Epoch: 1, Step: 20, Loss: -0.6}}
	b.Train.Loss = []LossPoint{{Epoch: 0.5, Step: 10, Loss: -0.01}, {Epoch: 1, Step: 20, Loss: -0.5}}
	b.Train.Seconds = 420
	b.Train.Curve = []Point{{Epoch: 1, Step: 10, Top1: 0.69}, {Epoch: 2, Step: 20, Top1: 0.78}}
	b.Entries[0].KNN[1].Top1 = 0.7875
	b.Entries[0].Linear[0].Top1 = 0.8650
	return []*File{a, b}
}

func TestCompareTable(t *testing.T) {
	got, err := CompareTable(pair(), []string{"results/p/0-fp32.json", "results/p/1-bf16.json"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| trained in | steps | pretraining | speed | final loss | kNN k=1 | kNN k=200 | linear, 30 epochs |\n",
		"| fp32 | 20 | 14 min 0 s | 1× | -0.6000 | 81.00 % | 80.00 % | 86.00 % |\n",
		// bf16 took half the time; its differences are in points against fp32.
		"| bf16 | 20 | 7 min 0 s | 2.00× | -0.5000 | 81.00 % (+0.00) | 78.75 % (-1.25) | 86.50 % (+0.50) |\n",
		"difference to fp32 in points",
		"from `results/p/0-fp32.json`, `results/p/1-bf16.json`.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestCompareTableRefusesMismatches(t *testing.T) {
	src := []string{"a.json", "b.json"}
	for _, tc := range []struct {
		name, want string
		edit       func(b *File)
	}{
		{"protocol", "protocol", func(b *File) { b.Protocol.LinearEpochs = []int{10} }},
		{"test images", "protocol", func(b *File) { b.Protocol.TestImages = 5 }},
		{"machine", "measured on", func(b *File) { b.Machine.CPU = "Other CPU" }},
		{"no encoder", `no "encoder" entry`, func(b *File) { b.Entries = b.Entries[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pair()
			tc.edit(fs[1])
			if _, err := CompareTable(fs, src); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	if _, err := CompareTable(pair()[:1], src[:1]); err == nil {
		t.Error("one run: no error")
	}
}

func TestFinalLoss(t *testing.T) {
	tr := &Train{}
	if !math.IsNaN(FinalLoss(tr)) {
		t.Error("no losses: want NaN")
	}
	for i := range 30 {
		tr.Loss = append(tr.Loss, LossPoint{Step: int64(i), Loss: float64(i)})
	}
	if got := FinalLoss(tr); got != 28 { // the last three: 27, 28, 29
		t.Errorf("FinalLoss = %v, want 28", got)
	}
}

func TestCompareSVG(t *testing.T) {
	fs := pair()
	svg := CompareSVG(fs, "toy: fp32 & bf16")
	var doc struct {
		Lines []struct {
			Stroke string `xml:"stroke,attr"`
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Circles []struct {
			Title string `xml:"title"`
		} `xml:"circle"`
		Texts []string `xml:"text"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, svg)
	}
	// Per run a loss line and a kNN line, each with one vertex per point.
	if len(doc.Lines) != 4 {
		t.Fatalf("%d polylines, want 4", len(doc.Lines))
	}
	for i, l := range doc.Lines {
		if n := len(strings.Fields(l.Points)); n != 2 {
			t.Errorf("polyline %d has %d points, want 2", i, n)
		}
	}
	if doc.Lines[0].Stroke != doc.Lines[1].Stroke || doc.Lines[0].Stroke == doc.Lines[2].Stroke {
		t.Errorf("colours %s %s %s %s: want one per run", doc.Lines[0].Stroke, doc.Lines[1].Stroke, doc.Lines[2].Stroke, doc.Lines[3].Stroke)
	}
	if len(doc.Circles) != 4 || doc.Circles[3].Title != "bf16, epoch 2: 78.00 %" {
		t.Errorf("kNN points %+v", doc.Circles)
	}
	text := strings.Join(doc.Texts, "|")
	if !strings.Contains(text, "|0.00|") || strings.Contains(text, "-0.00") {
		t.Errorf("loss axis: want a 0.00 label and no -0.00: %s", text)
	}
	for _, want := range []string{"toy: fp32 & bf16", "fp32", "bf16", "training loss over epochs", "kNN monitor top-1 over epochs"} {
		if !strings.Contains(text, want) {
			t.Errorf("plot text lacks %q: %s", want, text)
		}
	}
}
