package serve

import (
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

// prepare turns the request's images into one uint8 batch: encoded images
// are decoded and resized as simsiam embed decodes files (Model.ReadFiles),
// pixel arrays are checked against the signature.
func (s *servable) prepare(ss *servedSig, imgs []imageValue) (BatchKey, []byte, error) {
	key := BatchKey{Signature: ss.name}
	var pix []byte
	want := ss.channels()
	for i, im := range imgs {
		h, w, c, px := im.h, im.w, im.c, im.pix
		if im.encoded != nil {
			size := s.model.decodeSize
			if size <= 0 {
				return key, nil, badRequest("%s: model %s records no image size, so encoded images cannot be decoded; send pixel arrays [height][width][channels]", im.where, s.name)
			}
			rgb, err := data.DecodeImage(im.encoded, im.where+".b64", size, s.maxPixels)
			if err != nil {
				return key, nil, badRequest("%v", err)
			}
			h, w, c, px = size, size, 3, rgb
			if want == 1 {
				px = toGrey(&data.Images{N: 1, H: size, W: size, C: 3, Pix: rgb}).Pix
				c = 1
			}
		}
		if want > 0 && c != want {
			return key, nil, badRequest("%s has %d channels; signature %s takes %d (input %q has shape %s)", im.where, c, ss.name, want, ss.input, shapeString(ss.in.shape))
		}
		if sh := ss.in.shape; sh != nil && (sh[1] > 0 && int64(h) != sh[1] || sh[2] > 0 && int64(w) != sh[2]) {
			return key, nil, badRequest("%s is %dx%d; signature %s takes %dx%d images", im.where, h, w, ss.name, sh[1], sh[2])
		}
		if i == 0 {
			key.H, key.W, key.C = h, w, c
			pix = make([]byte, 0, len(imgs)*h*w*c)
		} else if h != key.H || w != key.W || c != key.C {
			return key, nil, badRequest("%s is %dx%dx%d but %s is %dx%dx%d: the images of one request form one tensor, so they need one shape (send {\"b64\": ...} images to have them resized)", im.where, h, w, c, imgs[0].where, key.H, key.W, key.C)
		}
		pix = append(pix, px...)
	}
	return key, pix, nil
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
