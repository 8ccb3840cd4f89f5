package runfolder

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestRecordsKeepTheFileFormat: each record writes the bytes the map of
// the same keys wrote before the records were types (the keys sorted,
// float32 values in their shortest form), so metrics.jsonl reads as it
// always did.
func TestRecordsKeepTheFileFormat(t *testing.T) {
	top5 := 0.99
	for _, tc := range []struct {
		name string
		rec  any
		old  map[string]any
	}{
		{"step", StepRecord{Step: 40, Epoch: 40.0 / 3, Loss: -0.8125, ZStd: 0.0412, LR: 0.05, ImagesPerSec: 123.5, Time: "2026-01-02T03:04:05Z"},
			map[string]any{"step": int64(40), "epoch": 40.0 / 3, "loss": float32(-0.8125), "z_std": float32(0.0412), "lr": float32(0.05), "images_per_sec": 123.5, "time": "2026-01-02T03:04:05Z"}},
		{"step with loss scale", StepRecord{Step: 2, Epoch: 1, Loss: 1.5, ZStd: 0.1, LR: 0.1, ImagesPerSec: 9, LossScale: 32768, Time: "t"},
			map[string]any{"step": int64(2), "epoch": 1.0, "loss": float32(1.5), "z_std": float32(0.1), "lr": float32(0.1), "images_per_sec": 9.0, "loss_scale": float32(32768), "time": "t"}},
		{"kNN", KNNRecord{Step: 937, Epoch: 1, KNNTop1: 0.7712, KNNTop5: &top5},
			map[string]any{"step": int64(937), "epoch": int64(1), "knn_top1": 0.7712, "knn_top5": 0.99}},
		{"kNN without top-5", KNNRecord{Step: 937, Epoch: 1, KNNTop1: 0.7712},
			map[string]any{"step": int64(937), "epoch": int64(1), "knn_top1": 0.7712}},
		{"skip", SkipRecord{Step: 5, Skip: 2, NonFinite: "loss is", Time: "t"},
			map[string]any{"step": int64(5), "nonfinite_skip": 2, "nonfinite": "loss is", "time": "t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			if err := WriteRecord(&got, tc.rec); err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(tc.old)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want)+"\n" {
				t.Errorf("wrote %s want %s", got.String(), want)
			}
		})
	}
}

// TestParseRecord: each record reads back with the keys it has set and
// the others nil.
func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		rec                   any
		step                  int64
		epoch                 float64
		loss, knn, top5, skip bool
	}{
		{"step", StepRecord{Step: 3, Epoch: 1.5, Loss: 0.25}, 3, 1.5, true, false, false, false},
		{"kNN", KNNRecord{Step: 4, Epoch: 2, KNNTop1: 0.5}, 4, 2, false, true, false, false},
		{"kNN with top-5", KNNRecord{Step: 4, Epoch: 2, KNNTop1: 0.5, KNNTop5: new(float64)}, 4, 2, false, true, true, false},
		{"skip", SkipRecord{Step: 5, Skip: 1}, 5, 0, false, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteRecord(&b, tc.rec); err != nil {
				t.Fatal(err)
			}
			r, err := ParseRecord(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if r.Step == nil || *r.Step != tc.step || r.Epoch != tc.epoch {
				t.Errorf("step %v epoch %v, want %d %v", r.Step, r.Epoch, tc.step, tc.epoch)
			}
			if (r.Loss != nil) != tc.loss || (r.KNNTop1 != nil) != tc.knn || (r.KNNTop5 != nil) != tc.top5 || (r.Skip != nil) != tc.skip {
				t.Errorf("set: loss %v knn %v top5 %v skip %v, want %v %v %v %v", r.Loss != nil, r.KNNTop1 != nil, r.KNNTop5 != nil, r.Skip != nil, tc.loss, tc.knn, tc.top5, tc.skip)
			}
		})
	}
	if _, err := ParseRecord([]byte(`{"step":3,"lo`)); err == nil {
		t.Error("a torn line parsed")
	}
	if err := WriteRecord(&bytes.Buffer{}, KNNRecord{KNNTop1: math.NaN()}); err == nil {
		t.Error("a NaN record was written")
	}
}
