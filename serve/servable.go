package serve

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// servable is one loaded model version as the HTTP server sees it
// (TensorFlow Serving's term): its signatures with their tensors, and the
// ones it can call, those taking one uint8 NHWC images input.
type servable struct {
	name    string
	version int64
	model   *Model
	// sigs are the signatures predict can call.
	sigs map[string]*servedSig
	// skipped says why the other signatures cannot be called.
	skipped map[string]string
	// maxPixels bounds an encoded image's width x height.
	maxPixels int64
	// decoded, when set (by tests), is called after each encoded image of
	// a request is decoded, with its index.
	decoded func(i int)
}

// tensorInfo is a signature tensor as the metadata API describes it.
type tensorInfo struct {
	name  string // graph tensor, "op:index"
	dtype tfgraph.DataType
	shape []int64 // nil when the rank is unknown; -1 for unknown sizes
}

// servedSig is a signature with one uint8 [N, H, W, C] input.
type servedSig struct {
	name    string
	input   string
	in      tensorInfo
	outputs []string // sorted
}

func infoOf(o tfgraph.Output) tensorInfo {
	ti := tensorInfo{name: fmt.Sprintf("%s:%d", o.Op.Name(), o.Index), dtype: o.DataType()}
	sh := o.Shape()
	if n := sh.NumDimensions(); n >= 0 {
		ti.shape = make([]int64, n)
		for i := range ti.shape {
			ti.shape[i] = sh.Size(i)
		}
	}
	return ti
}

// newServable resolves the signatures of m.
func newServable(name string, version int64, m *Model, maxPixels int64) *servable {
	s := &servable{name: name, version: version, model: m, sigs: map[string]*servedSig{}, skipped: map[string]string{}, maxPixels: maxPixels}
	for sname, sig := range m.sm.Signatures {
		if len(sig.Inputs) != 1 {
			s.skipped[sname] = fmt.Sprintf("it has %d inputs; this server calls signatures with one uint8 images input", len(sig.Inputs))
			continue
		}
		ss := &servedSig{name: sname}
		for k, in := range sig.Inputs {
			ss.input, ss.in = k, infoOf(in)
		}
		if ss.in.dtype != tfgraph.Uint8 || (ss.in.shape != nil && len(ss.in.shape) != 4) {
			s.skipped[sname] = fmt.Sprintf("its input %q is %s of shape %s; this server calls signatures with one uint8 [N, H, W, C] images input", ss.input, dtypeProtoName(ss.in.dtype), shapeString(ss.in.shape))
			continue
		}
		for k := range sig.Outputs {
			ss.outputs = append(ss.outputs, k)
		}
		sort.Strings(ss.outputs)
		s.sigs[sname] = ss
	}
	return s
}

// signature returns the signature a request names ("" = serving_default).
func (s *servable) signature(name string) (*servedSig, error) {
	if name == "" {
		name = tfgraph.DefaultSignature
	}
	if ss, ok := s.sigs[name]; ok {
		return ss, nil
	}
	if why, ok := s.skipped[name]; ok {
		return nil, badRequest("signature %q cannot be called by this server: %s", name, why)
	}
	have := make([]string, 0, len(s.sigs))
	for k := range s.sigs {
		have = append(have, k)
	}
	sort.Strings(have)
	return nil, badRequest("Serving signature name: %q not found in signature def (model %s has %s)", name, s.name, strings.Join(have, ", "))
}

// channels is the channel count the signature takes, -1 for any.
func (ss *servedSig) channels() int {
	if ss.in.shape == nil {
		return -1
	}
	return int(ss.in.shape[3])
}

// planned is one image of a request with its shape known before anything
// is decoded: a pixel array's from its dimensions, an encoded image's from
// its header (decoded at its own size with the signature's channels).
type planned struct {
	h, w, c     int
	decodeBytes int64 // the decoder's image, 0 for arrays
}

// plan checks the request's images against the signature and the limits
// (pixels, aspect ratio; see checkShape) from their headers and dimensions
// alone, and returns their shapes with what decoding and preprocessing
// them costs (imageCost). Pixel arrays must share one shape (they would
// form one tensor in TensorFlow Serving too); encoded images may differ.
func (s *servable) plan(ss *servedSig, imgs []imageValue) ([]planned, int64, error) {
	want := ss.channels()
	decodeC := want
	if decodeC != 1 {
		decodeC = 3
	}
	size := s.model.decodeSize
	out := make([]planned, len(imgs))
	var cost int64
	firstArray := -1
	for i, im := range imgs {
		p := planned{h: im.h, w: im.w, c: im.c}
		if im.encoded != nil {
			hdr, err := data.ReadHeader(im.encoded, im.where+".b64", s.maxPixels)
			if err != nil {
				return nil, 0, badRequest("%v", err)
			}
			p = planned{h: hdr.Height, w: hdr.Width, c: decodeC, decodeBytes: hdr.DecodeBytes}
		} else {
			if f := firstArray; f >= 0 && (p.h != out[f].h || p.w != out[f].w || p.c != out[f].c) {
				return nil, 0, badRequest("%s is %dx%dx%d but %s is %dx%dx%d: the pixel arrays of one request form one tensor, so they need one shape (images sent as {\"b64\": ...} may differ in size)", im.where, p.h, p.w, p.c, imgs[f].where, out[f].h, out[f].w, out[f].c)
			}
			if firstArray < 0 {
				firstArray = i
			}
		}
		if want > 0 && p.c != want {
			return nil, 0, badRequest("%s has %d channels; signature %s takes %d (input %q has shape %s)", im.where, p.c, ss.name, want, ss.input, shapeString(ss.in.shape))
		}
		if sh := ss.in.shape; sh != nil && (sh[1] > 0 && int64(p.h) != sh[1] || sh[2] > 0 && int64(p.w) != sh[2]) {
			return nil, 0, badRequest("%s is %dx%d; signature %s takes %dx%d images", im.where, p.h, p.w, ss.name, sh[1], sh[2])
		}
		if err := checkShape(im.where, p.h, p.w, size); err != nil {
			return nil, 0, err
		}
		cost += imageCost(p.h, p.w, p.c, size, p.decodeBytes)
		out[i] = p
	}
	return out, cost, nil
}

// decode decodes the request's encoded images at their own size (pixel
// arrays are used as they are), checking ctx before each image so that a
// request whose client has gone stops decoding.
func (s *servable) decode(ctx context.Context, imgs []imageValue, plan []planned) ([][]byte, error) {
	pix := make([][]byte, len(imgs))
	for i, im := range imgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if im.encoded == nil {
			pix[i] = im.pix
			continue
		}
		p := plan[i]
		px, h, w, err := data.DecodeFull(im.encoded, im.where+".b64", p.c, s.maxPixels)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		if h != p.h || w != p.w {
			return nil, badRequest("%s.b64: the image decodes to %dx%d but its header says %dx%d", im.where, h, w, p.h, p.w)
		}
		pix[i] = px
		if s.decoded != nil {
			s.decoded(i)
		}
	}
	return pix, nil
}

// groupParts gathers images of one shape into one batcher Part, in the
// order shapes first appear; rows[p] lists the request indices of part p's
// images.
func groupParts(sig string, plan []planned, pix [][]byte) (parts []Part, rows [][]int) {
	index := map[BatchKey]int{}
	for i, p := range plan {
		key := BatchKey{Signature: sig, H: p.h, W: p.w, C: p.c}
		k, ok := index[key]
		if !ok {
			k = len(parts)
			index[key] = k
			parts = append(parts, Part{Key: key})
			rows = append(rows, nil)
		}
		parts[k].Images = append(parts[k].Images, pix[i]...)
		parts[k].N++
		rows[k] = append(rows[k], i)
	}
	return parts, rows
}

// mergeRows puts the parts' output rows back in request order: output o of
// the answer has row rows[p][k] = row k of outs[p][o].
func mergeRows(outs [][]Array, rows [][]int, n int) ([]Array, error) {
	if len(outs) == 1 {
		return outs[0], nil
	}
	merged := make([]Array, len(outs[0]))
	for o := range merged {
		first := outs[0][o]
		a := Array{DType: first.DType, Shape: append([]int64{int64(n)}, first.Shape[1:]...)}
		rb := first.rowBytes()
		a.Data = make([]byte, n*rb)
		for p := range outs {
			part := outs[p][o]
			if part.DType != first.DType || part.rowBytes() != rb {
				return nil, fmt.Errorf("serve: output %d is %s %v for one image size and %s %v for another", o, tfgraph.DTypeName(part.DType), part.Shape, tfgraph.DTypeName(first.DType), first.Shape)
			}
			for k, i := range rows[p] {
				copy(a.Data[i*rb:(i+1)*rb], part.Data[k*rb:(k+1)*rb])
			}
		}
		merged[o] = a
	}
	return merged, nil
}

// run is the Batcher's RunFunc: one Session.Run of the signature on a
// merged batch.
func (s *servable) run(key BatchKey, images []byte, n int) ([]Array, error) {
	ss, ok := s.sigs[key.Signature]
	if !ok {
		return nil, fmt.Errorf("serve: no signature %q", key.Signature)
	}
	t, err := tfgraph.NewTensor(images)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := t.Reshape([]int64{int64(n), int64(key.H), int64(key.W), int64(key.C)}); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	res, err := s.model.Run(ss.name, map[string]*tfgraph.Tensor{ss.input: t}, ss.outputs...)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	out := make([]Array, len(ss.outputs))
	for i, name := range ss.outputs {
		if out[i], err = arrayFromTensor(res[name], name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dtypeProtoName names a dtype as TensorFlow's DataType enum does
// (DT_FLOAT), which is how the metadata API writes it.
func dtypeProtoName(dt tfgraph.DataType) string {
	switch dt {
	case tfgraph.Float:
		return "DT_FLOAT"
	case tfgraph.Double:
		return "DT_DOUBLE"
	case tfgraph.Int32:
		return "DT_INT32"
	case tfgraph.Int64:
		return "DT_INT64"
	case tfgraph.Uint8:
		return "DT_UINT8"
	case tfgraph.String:
		return "DT_STRING"
	case tfgraph.Bool:
		return "DT_BOOL"
	}
	return fmt.Sprintf("DT_TYPE_%d", int(dt))
}

func shapeString(sh []int64) string {
	if sh == nil {
		return "(unknown rank)"
	}
	parts := make([]string, len(sh))
	for i, d := range sh {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
