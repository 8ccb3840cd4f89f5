package tfgraph

import (
	"fmt"

	tf "github.com/wamuir/graft/tensorflow"
)

// Const adds a constant holding the Go value v (a scalar, slice or *Tensor).
func (s *Scope) Const(name string, v any) Output {
	t, ok := v.(*Tensor)
	if ok && t == nil {
		s.g.fail(fmt.Errorf("constant %q: nil tensor", join(s.ns, name)))
		return Output{}
	}
	if !ok {
		var err error
		if t, err = tf.NewTensor(v); err != nil {
			s.g.fail(fmt.Errorf("constant %q: %w", join(s.ns, name), err))
			return Output{}
		}
	}
	return s.out("Const", name, map[string]any{"dtype": t.DataType(), "value": t})
}

// Placeholder adds a fed input. dims may use -1 for unknown sizes; nil means
// unknown rank.
func (s *Scope) Placeholder(name string, dt DataType, dims []int64) Output {
	attrs := map[string]any{"dtype": dt}
	if dims != nil {
		attrs["shape"] = tf.MakeShape(dims...)
	}
	return s.out("Placeholder", name, attrs)
}

// PlaceholderWithDefault returns def unless the output is fed.
func (s *Scope) PlaceholderWithDefault(name string, def Output, dims []int64) Output {
	if def.Op == nil {
		s.g.fail(fmt.Errorf("PlaceholderWithDefault %q: the default is empty", join(s.ns, name)))
		return Output{}
	}
	return s.out("PlaceholderWithDefault", name, map[string]any{"dtype": def.DataType(), "shape": tf.MakeShape(dims...)}, def)
}

// Identity forwards x under a readable name.
func (s *Scope) Identity(name string, x Output) Output { return s.out("Identity", name, nil, x) }

// StopGradient forwards x and blocks gradients through it.
func (s *Scope) StopGradient(x Output) Output { return s.out("StopGradient", "", nil, x) }

func (s *Scope) binary(typ string, a, b Output) Output { return s.out(typ, "", nil, a, b) }
func (s *Scope) unary(typ string, x Output) Output     { return s.out(typ, "", nil, x) }

// Add returns a + b (broadcasting).
func (s *Scope) Add(a, b Output) Output { return s.binary("AddV2", a, b) }

// Sub returns a - b.
func (s *Scope) Sub(a, b Output) Output { return s.binary("Sub", a, b) }

// Mul returns a * b.
func (s *Scope) Mul(a, b Output) Output { return s.binary("Mul", a, b) }

// Div returns a / b.
func (s *Scope) Div(a, b Output) Output { return s.binary("RealDiv", a, b) }

// Maximum returns max(a, b) elementwise.
func (s *Scope) Maximum(a, b Output) Output { return s.binary("Maximum", a, b) }

// Minimum returns min(a, b) elementwise.
func (s *Scope) Minimum(a, b Output) Output { return s.binary("Minimum", a, b) }

// Pow returns a^b elementwise.
func (s *Scope) Pow(a, b Output) Output { return s.binary("Pow", a, b) }

// Less returns a < b.
func (s *Scope) Less(a, b Output) Output { return s.binary("Less", a, b) }

// Neg returns -x.
func (s *Scope) Neg(x Output) Output { return s.unary("Neg", x) }

// Square returns x*x.
func (s *Scope) Square(x Output) Output { return s.unary("Square", x) }

// Sqrt returns the square root of x.
func (s *Scope) Sqrt(x Output) Output { return s.unary("Sqrt", x) }

// Rsqrt returns 1/sqrt(x).
func (s *Scope) Rsqrt(x Output) Output { return s.unary("Rsqrt", x) }

// Exp returns e^x.
func (s *Scope) Exp(x Output) Output { return s.unary("Exp", x) }

// Cos returns cos(x).
func (s *Scope) Cos(x Output) Output { return s.unary("Cos", x) }

// Floor returns floor(x).
func (s *Scope) Floor(x Output) Output { return s.unary("Floor", x) }

// Round rounds half to even.
func (s *Scope) Round(x Output) Output { return s.unary("Round", x) }

// Relu returns max(x, 0).
func (s *Scope) Relu(x Output) Output { return s.unary("Relu", x) }

// Shape returns the dynamic shape of x as int32.
func (s *Scope) Shape(x Output) Output {
	return s.out("Shape", "", map[string]any{"out_type": Int32}, x)
}

// Cast converts x to dt.
func (s *Scope) Cast(x Output, dt DataType) Output {
	return s.out("Cast", "", map[string]any{"DstT": dt}, x)
}

// Select returns cond ? a : b elementwise (SelectV2, broadcasting).
func (s *Scope) Select(cond, a, b Output) Output { return s.out("SelectV2", "", nil, cond, a, b) }

// Reshape gives x the shape dims (one entry may be -1).
func (s *Scope) Reshape(x Output, dims ...int32) Output {
	return s.out("Reshape", "", nil, x, s.Const("shape", dims))
}

// ReshapeTo gives x the dynamic shape held by shape.
func (s *Scope) ReshapeTo(x, shape Output) Output { return s.out("Reshape", "", nil, x, shape) }

// Concat joins xs along axis.
func (s *Scope) Concat(axis int32, xs ...Output) Output {
	return s.out("ConcatV2", "", nil, tf.OutputList(xs), s.Const("axis", axis))
}

// Split cuts x into n equal parts along axis.
func (s *Scope) Split(axis int32, n int, x Output) []Output {
	if n < 1 {
		s.g.fail(fmt.Errorf("Split in %q: %d parts", s.ns, n))
		return nil
	}
	op := s.Op("Split", "", []tf.Input{s.Const("axis", axis), x}, map[string]any{"num_split": int64(n)})
	if op == nil {
		return make([]Output, n)
	}
	outs := make([]Output, n)
	for i := range outs {
		outs[i] = op.Output(i)
	}
	return outs
}

// Slice takes size elements from begin along each axis (-1 = to the end).
func (s *Scope) Slice(x Output, begin, size []int32) Output {
	return s.out("Slice", "", nil, x, s.Const("begin", begin), s.Const("size", size))
}

// Gather picks rows of x by indices along axis 0.
func (s *Scope) Gather(x, indices Output) Output {
	return s.out("GatherV2", "", nil, x, indices, s.Const("axis", int32(0)))
}

func (s *Scope) reduce(typ string, x Output, keep bool, axes []int32) Output {
	return s.out(typ, "", map[string]any{"keep_dims": keep}, x, s.Const("axes", axes))
}

// Sum reduces x over axes.
func (s *Scope) Sum(x Output, keep bool, axes ...int32) Output { return s.reduce("Sum", x, keep, axes) }

// Mean averages x over axes.
func (s *Scope) Mean(x Output, keep bool, axes ...int32) Output {
	return s.reduce("Mean", x, keep, axes)
}

// Max reduces x over axes with max.
func (s *Scope) Max(x Output, keep bool, axes ...int32) Output { return s.reduce("Max", x, keep, axes) }

// MatMul returns a·b (optionally transposed).
func (s *Scope) MatMul(a, b Output, transA, transB bool) Output {
	return s.out("MatMul", "", map[string]any{"transpose_a": transA, "transpose_b": transB}, a, b)
}

// Conv2D convolves an NHWC input with an HWIO kernel.
func (s *Scope) Conv2D(x, kernel Output, stride int64, padding string) Output {
	return s.out("Conv2D", "", map[string]any{
		"strides": []int64{1, stride, stride, 1}, "padding": padding, "data_format": "NHWC",
	}, x, kernel)
}

// DepthwiseConv2D convolves each channel of x with its own filter.
func (s *Scope) DepthwiseConv2D(x, kernel Output, padding string) Output {
	return s.out("DepthwiseConv2dNative", "", map[string]any{
		"strides": []int64{1, 1, 1, 1}, "padding": padding, "data_format": "NHWC",
	}, x, kernel)
}

// BiasAdd adds a per-channel bias to the last axis.
func (s *Scope) BiasAdd(x, b Output) Output {
	return s.out("BiasAdd", "", map[string]any{"data_format": "NHWC"}, x, b)
}

// PadSpatial zero-pads the H and W axes of an NHWC tensor by p on each side.
func (s *Scope) PadSpatial(x Output, p int32) Output {
	if p == 0 {
		return x
	}
	return s.out("Pad", "", nil, x, s.Const("paddings", [][]int32{{0, 0}, {p, p}, {p, p}, {0, 0}}))
}

// Pad pads x with constant zeros; paddings has one [before, after] per axis.
func (s *Scope) Pad(x Output, paddings [][]int32) Output {
	return s.out("Pad", "", nil, x, s.Const("paddings", paddings))
}

// MaxPool applies a k×k max pool with the given stride and padding.
func (s *Scope) MaxPool(x Output, k, stride int64, padding string) Output {
	return s.out("MaxPool", "", map[string]any{
		"ksize": []int64{1, k, k, 1}, "strides": []int64{1, stride, stride, 1},
		"padding": padding, "data_format": "NHWC",
	}, x)
}

// TopK returns the k largest values of each row and their indices.
func (s *Scope) TopK(x Output, k int32) (values, indices Output) {
	op := s.Op("TopKV2", "", []tf.Input{x, s.Const("k", k)}, map[string]any{"sorted": true})
	if op == nil {
		return Output{}, Output{}
	}
	return op.Output(0), op.Output(1)
}

// ArgMax returns the index of the largest value along axis.
func (s *Scope) ArgMax(x Output, axis int32) Output {
	return s.out("ArgMax", "", map[string]any{"output_type": Int32}, x, s.Const("axis", axis))
}

// OneHot encodes int labels as float vectors of length depth.
func (s *Scope) OneHot(labels Output, depth int32) Output {
	return s.out("OneHot", "", map[string]any{"axis": int64(-1)}, labels, s.Const("depth", depth),
		s.Const("on", float32(1)), s.Const("off", float32(0)))
}

// StatelessNormal draws a standard normal tensor of the given shape; seed is an
// int64 [2] tensor. The same seed always gives the same values.
func (s *Scope) StatelessNormal(name string, dims []int64, seed Output) Output {
	return s.out("StatelessRandomNormal", name, map[string]any{"dtype": Float}, s.Const("shape", dims), seed)
}

// StatelessUniform draws uniform [0, 1) values of the given dynamic shape.
func (s *Scope) StatelessUniform(name string, shape, seed Output) Output {
	return s.out("StatelessRandomUniform", name, map[string]any{"dtype": Float}, shape, seed)
}

// Scalar is a float32 constant.
func (s *Scope) Scalar(v float32) Output { return s.Const("c", v) }

// FloorDiv returns floor(a / b) elementwise (integer division rounding down
// for integer types).
func (s *Scope) FloorDiv(a, b Output) Output { return s.binary("FloorDiv", a, b) }

// Equal returns a == b elementwise (broadcasting) as bool.
func (s *Scope) Equal(a, b Output) Output { return s.binary("Equal", a, b) }

// LessEqual returns a <= b elementwise as bool.
func (s *Scope) LessEqual(a, b Output) Output { return s.binary("LessEqual", a, b) }

// LogicalAnd returns a && b elementwise for bool tensors.
func (s *Scope) LogicalAnd(a, b Output) Output { return s.binary("LogicalAnd", a, b) }

// BatchMatMul multiplies the matrices in the last two axes of a and b,
// broadcasting the leading axes (BatchMatMulV2, no adjoints).
func (s *Scope) BatchMatMul(a, b Output) Output { return s.binary("BatchMatMulV2", a, b) }

// Log returns the natural logarithm of x.
func (s *Scope) Log(x Output) Output { return s.unary("Log", x) }

// ZerosLike is a tensor of zeros shaped like x.
func (s *Scope) ZerosLike(x Output) Output { return s.unary("ZerosLike", x) }

// OnesLike returns a tensor of ones with the shape and type of x.
func (s *Scope) OnesLike(x Output) Output { return s.unary("OnesLike", x) }

// RGBToHSV converts RGB values in [0, 1] (last axis of size 3) to HSV.
func (s *Scope) RGBToHSV(x Output) Output { return s.unary("RGBToHSV", x) }

// HSVToRGB converts HSV values (last axis of size 3) to RGB.
func (s *Scope) HSVToRGB(x Output) Output { return s.unary("HSVToRGB", x) }

// Softmax returns the softmax of logits over the last axis, as an op named
// name ("" names it Softmax).
func (s *Scope) Softmax(name string, logits Output) Output {
	return s.out("Softmax", name, nil, logits)
}

// ClipByValue clamps x to [lo, hi] elementwise; lo and hi are scalars or
// have x's shape.
func (s *Scope) ClipByValue(x, lo, hi Output) Output {
	return s.out("ClipByValue", "", nil, x, lo, hi)
}

// SelectRows returns cond ? a : b with TensorFlow's original Select op: cond
// has the shape of a and b, or is a bool vector whose entry i picks the
// whole row a[i] or b[i]. (Select, unlike SelectV2, does not broadcast.)
func (s *Scope) SelectRows(cond, a, b Output) Output { return s.out("Select", "", nil, cond, a, b) }

// SliceAt takes size elements from begin along each axis (-1 = to the end),
// with begin and size given as int32 vector tensors (see Slice for constant
// ones).
func (s *Scope) SliceAt(x, begin, size Output) Output {
	return s.out("Slice", "", nil, x, begin, size)
}

// Fill returns a tensor of the shape held by the int32 vector dims, every
// element value (a scalar).
func (s *Scope) Fill(dims, value Output) Output { return s.out("Fill", "", nil, dims, value) }

// Range returns the 1-D sequence start, start+delta, ... below limit (all
// scalars of one type).
func (s *Scope) Range(start, limit, delta Output) Output {
	return s.out("Range", "", nil, start, limit, delta)
}

// Reverse reverses x along the given axes (ReverseV2).
func (s *Scope) Reverse(x Output, axes ...int32) Output {
	return s.out("ReverseV2", "", nil, x, s.Const("axis", axes))
}

// Tile repeats x multiples[i] times along axis i.
func (s *Scope) Tile(x Output, multiples ...int32) Output {
	return s.out("Tile", "", nil, x, s.Const("multiples", multiples))
}

// Pack stacks tensors of one shape into a tensor one rank higher, along
// axis (tf.stack).
func (s *Scope) Pack(axis int64, xs ...Output) Output {
	return s.out("Pack", "", map[string]any{"axis": axis}, tf.OutputList(xs))
}

// Unpack splits x along axis into num tensors one rank lower (tf.unstack).
// On failure it returns num empty Outputs.
func (s *Scope) Unpack(x Output, num int, axis int64) []Output {
	if num < 1 {
		s.g.fail(fmt.Errorf("Unpack in %q: %d parts", s.ns, num))
		return nil
	}
	outs := make([]Output, num)
	op := s.Op("Unpack", "", []tf.Input{x}, map[string]any{"num": int64(num), "axis": axis})
	if op == nil {
		return outs
	}
	for i := range outs {
		outs[i] = op.Output(i)
	}
	return outs
}

// ResizeBilinear resizes the NHWC batch images to the height and width held
// by the int32 [2] tensor size with bilinear interpolation; the flags are
// the op's align_corners and half_pixel_centers attributes.
func (s *Scope) ResizeBilinear(images, size Output, alignCorners, halfPixelCenters bool) Output {
	return s.out("ResizeBilinear", "", map[string]any{"align_corners": alignCorners, "half_pixel_centers": halfPixelCenters},
		images, size)
}

// CropAndResize cuts box i (float32 [y1, x1, y2, x2], normalised) out of
// image boxInd[i] of the NHWC batch images and resizes it to height x width
// with method ("bilinear" or "nearest"); samples outside the image take
// extrapolation.
func (s *Scope) CropAndResize(images, boxes, boxInd Output, height, width int32, method string, extrapolation float32) Output {
	return s.out("CropAndResize", "", map[string]any{"method": method, "extrapolation_value": extrapolation},
		images, boxes, boxInd, s.Const("crop_size", []int32{height, width}))
}

// StatelessUniformFullInt draws integers of type dt (int32, int64, uint32 or
// uint64) uniformly over the type's whole range, in the shape held by the
// int32 vector shape, from the int64 [2] seed; name "" names the op after
// its type.
func (s *Scope) StatelessUniformFullInt(name string, dt DataType, shape, seed Output) Output {
	return s.out("StatelessRandomUniformFullInt", name, map[string]any{"dtype": dt}, shape, seed)
}

// IsFinite says, element by element, whether x is neither infinite nor NaN.
func (s *Scope) IsFinite(x Output) Output { return s.unary("IsFinite", x) }

// All reduces the bool tensor x over axes with logical and.
func (s *Scope) All(x Output, keep bool, axes ...int32) Output { return s.reduce("All", x, keep, axes) }

// AllFinite is a bool scalar: whether every element of every xs[i] is finite.
func (s *Scope) AllFinite(xs ...Output) Output { return s.All(s.Finite(xs...), false, 0) }

// Finite is a bool [len(xs)]: whether every element of xs[i] is finite.
func (s *Scope) Finite(xs ...Output) Output {
	if len(xs) == 0 {
		s.g.fail(fmt.Errorf("Finite %q: no tensors", s.ns))
		return Output{}
	}
	flags := make([]Output, len(xs))
	for i, x := range xs {
		flags[i] = s.All(s.IsFinite(s.Reshape(x, -1)), false, 0)
	}
	return s.Pack(0, flags...)
}
