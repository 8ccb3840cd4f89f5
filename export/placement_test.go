package export_test

import (
	"path/filepath"
	"sort"
	"testing"

	. "github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/placement"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// checkSignaturesOnGPU checks the subgraph each signature of sm runs
// against the CUDA build's kernel registry: a GPU serving the model has a
// kernel for every node, uint8 input included (it is cast before the
// resize).
func checkSignaturesOnGPU(t *testing.T, sm *tfgraph.SavedModel) {
	t.Helper()
	for _, name := range sm.SignatureNames() {
		var roots []string
		for _, out := range sm.Signatures[name].Outputs {
			roots = append(roots, out.Op.Name())
		}
		sort.Strings(roots)
		r, err := placement.Check(sm.Graph, roots...)
		if err != nil {
			t.Fatal(err)
		}
		if msg := r.Problems(); msg != "" {
			t.Errorf("%s signature %s: %d of %d nodes lack a GPU kernel:\n%s", filepath.Base(sm.Dir), name, len(r.Missing), r.Nodes, msg)
		}
		if r.Nodes < 50 {
			t.Errorf("%s signature %s runs only %d nodes: the closure missed the network", filepath.Base(sm.Dir), name, r.Nodes)
		}
	}
}

// TestEncoderSavedModelHasGPUKernels: both signatures of the encoder
// SavedModel (embedding, projection) run on a GPU without a CPU detour.
// TestExportClassifier checks the classifier's three.
func TestEncoderSavedModelHasGPUKernels(t *testing.T) {
	cfg := tinyConfig(4)
	dir := filepath.Join(t.TempDir(), "encoder")
	if err := Export(cfg, trainCheckpoint(t, cfg, 1), dir, true); err != nil {
		t.Fatal(err)
	}
	sm, err := tfgraph.LoadSavedModel(dir, nil, tfgraph.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if got := len(sm.SignatureNames()); got < 2 {
		t.Fatalf("signatures %v, want embedding and projection", sm.SignatureNames())
	}
	checkSignaturesOnGPU(t, sm)
	checkPinnedNames(t, sm, map[string]string{"serving_default": embeddingSig, "projection": projectionSig})
}
