package augment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// runGraph starts a session on g, runs the fetches once and closes it.
func runGraph(t testing.TB, g *tfgraph.Graph, feeds map[tfgraph.Output]*tfgraph.Tensor, fetches ...tfgraph.Output) []*tfgraph.Tensor {
	t.Helper()
	sess, err := tfgraph.NewSession(g, tfgraph.SessionOptions{IntraOpThreads: 2, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(feeds, fetches)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tensor builds a tensor of the given shape from a flat slice.
func tensor(t testing.TB, flat any, shape ...int64) *tfgraph.Tensor {
	t.Helper()
	x, err := tfgraph.NewTensor(flat)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Reshape(shape); err != nil {
		t.Fatal(err)
	}
	return x
}

// floats returns the contents of a float32 tensor, flattened.
func floats(t testing.TB, x *tfgraph.Tensor) []float32 {
	t.Helper()
	if x.DataType() != tfgraph.Float {
		t.Fatalf("want a float32 tensor, got %v", x.DataType())
	}
	var buf bytes.Buffer
	if _, err := x.WriteContentsTo(&buf); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, buf.Len()/4)
	if err := binary.Read(&buf, binary.LittleEndian, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeNPY stores a little-endian float32 or int32 array in NumPy's .npy
// format, version 1.0: the magic string, the version, a 2-byte header
// length, then an ASCII dict header padded with spaces and a newline so that
// the data starts at a multiple of 64 bytes.
func writeNPY(path string, data any, shape []int64) error {
	var descr string
	var count int
	switch v := data.(type) {
	case []float32:
		descr, count = "<f4", len(v)
	case []int32:
		descr, count = "<i4", len(v)
	default:
		return fmt.Errorf("writeNPY: unsupported %T", data)
	}
	want := int64(1)
	dims := make([]string, len(shape))
	for i, d := range shape {
		want *= d
		dims[i] = fmt.Sprint(d)
	}
	if want != int64(count) {
		return fmt.Errorf("writeNPY %s: %d values for shape %v", path, count, shape)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	const prefix = 10 // magic (6) + version (2) + header length (2)
	pad := 64 - (prefix+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY")
	buf.Write([]byte{1, 0})
	if err := binary.Write(&buf, binary.LittleEndian, uint16(len(header))); err != nil {
		return err
	}
	buf.WriteString(header)
	if err := binary.Write(&buf, binary.LittleEndian, data); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// maxAbsDiff is the largest |a[i] - b[i]|.
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
