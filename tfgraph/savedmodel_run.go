package tfgraph

// Calling the signatures of a loaded SavedModel.

import (
	"fmt"
	"sort"
	"strings"
)

// Run calls a signature: inputs maps the signature's input names to values
// (every input must be given) and the result maps the requested output
// names (all outputs when none are named) to values.
func (m *SavedModel) Run(signature string, inputs map[string]*Tensor, outputs ...string) (map[string]*Tensor, error) {
	sig, ok := m.Signatures[signature]
	if !ok {
		return nil, fmt.Errorf("%s: no signature %q (have %s)", m.Dir, signature, strings.Join(m.SignatureNames(), ", "))
	}
	feeds := make(map[Output]*Tensor, len(inputs))
	for name, in := range sig.Inputs {
		t, ok := inputs[name]
		if !ok || t == nil {
			return nil, fmt.Errorf("%s: signature %q: input %q not given", m.Dir, signature, name)
		}
		if t.DataType() != in.DataType() {
			return nil, fmt.Errorf("%s: signature %q: input %q is %s, want %s", m.Dir, signature, name, DTypeName(t.DataType()), DTypeName(in.DataType()))
		}
		feeds[in] = t
	}
	for name := range inputs {
		if _, ok := sig.Inputs[name]; !ok {
			return nil, fmt.Errorf("%s: signature %q has no input %q", m.Dir, signature, name)
		}
	}
	if len(outputs) == 0 {
		for name := range sig.Outputs {
			outputs = append(outputs, name)
		}
		sort.Strings(outputs)
	}
	fetches := make([]Output, len(outputs))
	for i, name := range outputs {
		o, ok := sig.Outputs[name]
		if !ok {
			return nil, fmt.Errorf("%s: signature %q has no output %q", m.Dir, signature, name)
		}
		fetches[i] = o
	}
	res, err := m.Session.Run(feeds, fetches)
	if err != nil {
		return nil, fmt.Errorf("%s: signature %q: %w%s", m.Dir, signature, err, runHint(err))
	}
	out := make(map[string]*Tensor, len(outputs))
	for i, name := range outputs {
		out[name] = res[i]
	}
	return out, nil
}

// runHint explains the usual cause of a signature reading a variable the
// loader did not restore.
func runHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "Could not find variable") || strings.Contains(msg, "uninitialized value") {
		return " (the SavedModel's saver does not restore a variable its signature reads; " +
			"Keras 3 models saved with tf.saved_model.save have this problem: save them with " +
			"model.export(...) or track the underlying tf.Variables)"
	}
	return ""
}

// SignatureNames lists the signatures, sorted.
func (m *SavedModel) SignatureNames() []string {
	names := make([]string, 0, len(m.Signatures))
	for n := range m.Signatures {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
