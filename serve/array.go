package serve

import (
	"bytes"
	"fmt"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// Array is a dense tensor copied out of TensorFlow into Go memory: its
// element type, its shape and its elements in row-major order as
// TensorFlow holds them (native byte order). The HTTP server splits the
// outputs of a merged batch into the requests' rows with it and writes it
// as JSON.
type Array struct {
	DType tfgraph.DataType
	Shape []int64
	Data  []byte
}

// elemSize is the byte size of one element, 0 for types Array does not
// hold (strings and the rest).
func elemSize(dt tfgraph.DataType) int {
	switch dt {
	case tfgraph.Uint8, tfgraph.Bool:
		return 1
	case tfgraph.Float, tfgraph.Int32:
		return 4
	case tfgraph.Double, tfgraph.Int64:
		return 8
	}
	return 0
}

// arrayFromTensor copies a fetched tensor; what names it in errors.
func arrayFromTensor(t *tfgraph.Tensor, what string) (Array, error) {
	dt := t.DataType()
	size := elemSize(dt)
	if size == 0 {
		return Array{}, fmt.Errorf("serve: output %s is %s, which the HTTP server does not return (float32, float64, int32, int64, uint8 and bool)", what, tfgraph.DTypeName(dt))
	}
	a := Array{DType: dt, Shape: t.Shape()}
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return Array{}, fmt.Errorf("serve: output %s: %w", what, err)
	}
	a.Data = buf.Bytes()
	if want := a.elements() * int64(size); int64(len(a.Data)) != want {
		return Array{}, fmt.Errorf("serve: output %s: %d bytes for shape %v, want %d", what, len(a.Data), a.Shape, want)
	}
	return a, nil
}

// elements is the number of elements.
func (a Array) elements() int64 {
	n := int64(1)
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// rowBytes is the byte size of one row (one index of the first dimension).
func (a Array) rowBytes() int {
	n := elemSize(a.DType)
	for _, d := range a.Shape[1:] {
		n *= int(d)
	}
	return n
}

// Rows returns rows lo..hi-1 of the first dimension (sharing memory).
func (a Array) Rows(lo, hi int) Array {
	rb := a.rowBytes()
	shape := append([]int64{int64(hi - lo)}, a.Shape[1:]...)
	return Array{DType: a.DType, Shape: shape, Data: a.Data[lo*rb : hi*rb]}
}

// concatRows joins arrays of the same type and row shape along the first
// dimension.
func concatRows(parts []Array) (Array, error) {
	if len(parts) == 1 {
		return parts[0], nil
	}
	out := Array{DType: parts[0].DType, Shape: append([]int64{0}, parts[0].Shape[1:]...)}
	for i, p := range parts {
		if p.DType != out.DType || len(p.Shape) != len(out.Shape) {
			return Array{}, fmt.Errorf("serve: part %d is %s %v, part 0 %s %v", i, tfgraph.DTypeName(p.DType), p.Shape, tfgraph.DTypeName(out.DType), out.Shape)
		}
		for d := 1; d < len(p.Shape); d++ {
			if p.Shape[d] != out.Shape[d] {
				return Array{}, fmt.Errorf("serve: part %d has shape %v, part 0 %v", i, p.Shape, parts[0].Shape)
			}
		}
		out.Shape[0] += p.Shape[0]
		out.Data = append(out.Data, p.Data...)
	}
	return out, nil
}
