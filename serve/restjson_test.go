package serve

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/tfgraph"
)

func TestParseUint8Array(t *testing.T) {
	for _, c := range []struct {
		in    string
		rank  int
		shape []int
		pix   []byte
		err   string
	}{
		{`[[[1,2,3],[4,5,6]]]`, 3, []int{1, 2, 3}, []byte{1, 2, 3, 4, 5, 6}, ""},
		{" [ [ [0 , 255] ] ] ", 3, []int{1, 1, 2}, []byte{0, 255}, ""},
		{`[[[[7]]],[[[8]]]]`, 4, []int{2, 1, 1, 1}, []byte{7, 8}, ""},
		{`[[[1]],[[2],[3]]]`, 3, nil, nil, "x[1] has 2 elements where the first one along that dimension has 1"},
		{`[[[1,2]],[[3]]]`, 3, nil, nil, "x[1][0] has 1 elements where the first one along that dimension has 2"},
		{`[[]]`, 3, nil, nil, "x[0] is an empty list"},
		{`[[[[1]]]]`, 3, nil, nil, "x[0][0][0] is a list, but the images are [height][width][channels] arrays (rank 3): this array has too many dimensions"},
		{`[[[]]]`, 3, nil, nil, "x[0][0] is an empty list"},
		{`[[1]]`, 3, nil, nil, "x[0][0] is a number, but the images are [height][width][channels] arrays (rank 3): this array has too few dimensions"},
		{`[[[1e2]]]`, 3, nil, nil, "x[0][0][0] is 1e2, not a uint8"},
		{`[[[true]]]`, 3, nil, nil, "x[0][0][0] is a boolean"},
		{`[[[null]]]`, 3, nil, nil, "x[0][0][0] is null"},
		{`[[[{"a":1}]]]`, 3, nil, nil, "x[0][0][0] is an object"},
		{`5`, 3, nil, nil, "x must be a list"},
	} {
		shape, pix, err := parseUint8Array([]byte(c.in), c.rank, "x")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !equalInts(shape, c.shape) || !bytes.Equal(pix, c.pix) {
			t.Errorf("%s: %v %v %v, want %v %v", c.in, shape, pix, err, c.shape, c.pix)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteOutputs(t *testing.T) {
	f := Array{DType: tfgraph.Float, Shape: []int64{2, 2}, Data: make([]byte, 16)}
	for i, v := range []float32{0.1, -2, float32(math.NaN()), float32(math.Inf(-1))} {
		binary.NativeEndian.PutUint32(f.Data[4*i:], math.Float32bits(v))
	}
	c := Array{DType: tfgraph.Int32, Shape: []int64{2}, Data: make([]byte, 8)}
	binary.NativeEndian.PutUint32(c.Data[4:], uint32(0xffffffff)) // -1
	for _, x := range []struct {
		names    []string
		arrays   []Array
		columnar bool
		want     string
	}{
		{[]string{"e"}, []Array{f}, false, `{"predictions":[[0.1,-2],[NaN,-Infinity]]}`},
		{[]string{"e"}, []Array{f}, true, `{"outputs":[[0.1,-2],[NaN,-Infinity]]}`},
		{[]string{"classes", "p"}, []Array{c, f}, false, `{"predictions":[{"classes":0,"p":[0.1,-2]},{"classes":-1,"p":[NaN,-Infinity]}]}`},
		{[]string{"classes", "p"}, []Array{c, f}, true, `{"outputs":{"classes":[0,-1],"p":[[0.1,-2],[NaN,-Infinity]]}}`},
	} {
		var buf bytes.Buffer
		writeOutputs(&buf, x.names, x.arrays, x.columnar)
		if got := strings.TrimSpace(buf.String()); got != x.want {
			t.Errorf("got  %s\nwant %s", got, x.want)
		}
	}
}

// FuzzParsePredict: any body gives images or an error, never a panic, and
// the images hold as many pixels as their shape says.
func FuzzParsePredict(f *testing.F) {
	for _, s := range []string{
		`{"instances": [[[[1,2,3]]]]}`, `{"inputs": [[[[1]],[[2]]]]}`, `{"inputs": {"images": [{"b64": "aGk="}]}}`,
		`{"instances": [{"images": {"b64": "aGk="}}]}`, `{"instances": [[[[1,2]],[[3]]]]}`, `{"instances": [[[1]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parsePredictBody(body)
		if err != nil {
			return
		}
		var imgs []imageValue
		if len(p.Inputs) > 0 && string(p.Inputs) != "null" {
			imgs, err = parseInputs(p.Inputs, "images")
		} else {
			imgs, err = parseInstances(p.Instances, "images")
		}
		if err != nil {
			return
		}
		for _, im := range imgs {
			if im.encoded == nil && (im.h < 1 || im.w < 1 || im.c < 1 || len(im.pix) != im.h*im.w*im.c) {
				t.Fatalf("%s: %dx%dx%d with %d bytes", im.where, im.h, im.w, im.c, len(im.pix))
			}
		}
	})
}
