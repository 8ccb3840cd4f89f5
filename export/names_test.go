package export_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/signature"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// checkPinnedNames: the SavedModel's signatures, their tensor names and
// the scopes of the inference path are what Python and TF Serving clients
// were written against; a refactor must not move them. want maps each
// signature to "in KEY=TENSOR out KEY=TENSOR ...".
func checkPinnedNames(t *testing.T, sm *tfgraph.SavedModel, want map[string]string) {
	t.Helper()
	if got, w := strings.Join(sm.SignatureNames(), ","), strings.Join(sortedKeys(want), ","); got != w {
		t.Errorf("%s: signatures %s, want %s", filepath.Base(sm.Dir), got, w)
	}
	for name, w := range want {
		if got := describe(sm.Signatures[name]); got != w {
			t.Errorf("%s %s: %s, want %s", filepath.Base(sm.Dir), name, got, w)
		}
	}
	for _, op := range []string{"preprocess/eval/ResizeBilinear", "inference/encoder/conv1/Conv2D", "inference/encoder/features"} {
		if sm.Graph.Operation(op) == nil {
			t.Errorf("%s: no op %s", filepath.Base(sm.Dir), op)
		}
	}
}

// The published signatures.
var (
	embeddingSig  = "in images=images:0 out embedding=embedding:0"
	projectionSig = "in images=images:0 out projection=projection:0"
	classifySig   = "in images=images:0 out classes=classes:0 logits=logits:0 probabilities=probabilities:0"
)

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func describe(s tfgraph.Signature) string {
	side := func(m map[string]tfgraph.Output) string {
		var parts []string
		for k, o := range m {
			parts = append(parts, fmt.Sprintf("%s=%s:%d", k, o.Op.Name(), o.Index))
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	}
	return "in " + side(s.Inputs) + " out " + side(s.Outputs)
}

// TestContractNames pins the leaf package's names to the graph's: a
// SavedModel's default signature is TensorFlow's serving_default.
func TestContractNames(t *testing.T) {
	if signature.Embedding != tfgraph.DefaultSignature {
		t.Errorf("signature.Embedding = %q, tfgraph.DefaultSignature = %q", signature.Embedding, tfgraph.DefaultSignature)
	}
}
