package signature

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMetadataKeys pins the JSON keys of simsiam.json that readers (serve,
// Python users) parse: renaming a field must not change them.
func TestMetadataKeys(t *testing.T) {
	m := Metadata{Format: 1, ImageSize: 28, Channels: 1, Mean: []float64{0.5}, Std: []float64{0.25}, Arch: "resnet18", Stem: "cifar", Width: 4,
		FeatureDim: 32, ProjDim: 16, NumClasses: 3, ClassNames: []string{"a", "b", "c"}, Checkpoint: "ckpt-1", Signatures: []string{Embedding}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	want := []string{"format", "image_size", "channels", "mean", "std", "arch", "stem", "width", "feature_dim", "proj_dim", "num_classes", "class_names", "checkpoint", "signatures"}
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("no key %q in %s", k, b)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("%d keys, want %d: %s", len(keys), len(want), b)
	}
	var back Metadata
	if err := json.Unmarshal(b, &back); err != nil || back.ImageSize != 28 || strings.Join(back.ClassNames, ",") != "a,b,c" {
		t.Errorf("round trip: %+v %v", back, err)
	}
}
