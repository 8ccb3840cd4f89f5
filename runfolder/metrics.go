package runfolder

import (
	"encoding/json"
	"fmt"
	"io"
)

// The records a run appends to metrics.jsonl, one JSON object a line. The
// fields are in the order of their JSON keys (sorted), the order the file
// has always had.

// StepRecord is the record of a logged step (every train.log_every steps
// and the last).
type StepRecord struct {
	Epoch        float64 `json:"epoch"` // fractional: step / steps per epoch
	ImagesPerSec float64 `json:"images_per_sec"`
	Loss         float32 `json:"loss"`
	// LossScale is the dynamic loss scale (fp16); 0 (absent) otherwise.
	LossScale float32 `json:"loss_scale,omitempty"`
	LR        float32 `json:"lr"`
	Step      int64   `json:"step"`
	Time      string  `json:"time"` // RFC 3339, UTC
	ZStd      float32 `json:"z_std"`
}

// KNNRecord is the record of the kNN monitor at the end of an epoch.
type KNNRecord struct {
	Epoch   int64   `json:"epoch"`
	KNNTop1 float64 `json:"knn_top1"`
	// KNNTop5 is absent when top-5 is not defined (fewer than 5 classes).
	KNNTop5 *float64 `json:"knn_top5,omitempty"`
	Step    int64    `json:"step"`
}

// SkipRecord is the record of a step skipped because it was not finite
// (train.skip_nonfinite_steps).
type SkipRecord struct {
	NonFinite string `json:"nonfinite"` // what was not finite
	// Skip counts the skipped steps of the run, this one included.
	Skip int    `json:"nonfinite_skip"`
	Step int64  `json:"step"`
	Time string `json:"time"` // RFC 3339, UTC
}

// Record is any line of metrics.jsonl as its readers see it: the fields
// present in the line are set (a nil pointer is a key the line lacks).
// A StepRecord has Loss, a KNNRecord KNNTop1, a SkipRecord Skip.
type Record struct {
	Step    *int64   `json:"step"`
	Epoch   float64  `json:"epoch"`
	Loss    *float64 `json:"loss"`
	KNNTop1 *float64 `json:"knn_top1"`
	KNNTop5 *float64 `json:"knn_top5"`
	Skip    *int     `json:"nonfinite_skip"`
}

// ParseRecord decodes one line of metrics.jsonl.
func ParseRecord(line []byte) (Record, error) {
	var rec Record
	err := json.Unmarshal(line, &rec)
	return rec, err
}

// WriteRecord appends rec (a StepRecord, KNNRecord or SkipRecord) to w as
// one line.
func WriteRecord(w io.Writer, rec any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	return nil
}
