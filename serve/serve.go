// Package serve is the Go inference API for programs that embed a trained
// SimSiam encoder: it loads a SavedModel written by package export once and
// turns images into embeddings (and class predictions when the model has a
// classify signature).
//
//	m, err := serve.Load("runs/simsiam/export", serve.WithBatchSize(128))
//	defer m.Close()
//	emb, err := m.Embed(pix, n, h, w, c)      // uint8 NHWC -> [n][FeatureDim]
//	emb, err = m.EmbedImages(images)          // a *data.Images
//	paths, emb, err := m.EmbedFolder("photos") // JPEG/PNG files
//	preds, err := m.Predict(pix, n, h, w, c)  // needs the classify signature
//
// A Model is safe for concurrent use: TensorFlow sessions run concurrent
// Session.Run calls, and Model keeps no per-call state. Inputs are checked
// before TensorFlow sees them; errors say what was expected and what was
// given.
//
// Every input form goes through one preprocessing, the model's graph:
// pixel arrays as they are, image files (EmbedFiles, PredictFiles) and
// {"b64"} images of the HTTP server decoded at their own size (RGB, or grey
// by data.GreyWeights for 1-channel models). The graph resizes the shorter
// side to round(S*256/224) when it is over 1.1*S, else to S (S the model's
// image size), crops the centre S x S and normalises; see preprocess.go.
//
// Any SavedModel loads (Keras ones included); Run calls any signature with
// tensors, and Embed works when serving_default takes uint8 images.
package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/signature"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// DefaultBatchSize is the number of images per Session.Run.
const DefaultBatchSize = 64

// Option configures Load.
type Option func(*options)

type options struct {
	batch     int
	sess      tfgraph.SessionOptions
	imageSize int
	tags      []string
}

// WithBatchSize sets how many images go through the model per run (the
// memory/speed trade-off); n < 1 is an error at Load.
func WithBatchSize(n int) Option { return func(o *options) { o.batch = n } }

// WithSessionOptions configures the TensorFlow session (threads, target).
func WithSessionOptions(s tfgraph.SessionOptions) Option {
	return func(o *options) { o.sess = s }
}

// WithImageSize sets the side image files are decoded to by EmbedFiles and
// EmbedFolder. The default is the model's image size from its metadata;
// models without metadata need this option for those two methods.
func WithImageSize(n int) Option { return func(o *options) { o.imageSize = n } }

// WithTags selects the MetaGraphDef (default ["serve"]).
func WithTags(tags ...string) Option { return func(o *options) { o.tags = tags } }

// Model is a loaded SavedModel ready for inference.
type Model struct {
	sm    *tfgraph.SavedModel
	batch int
	// decodeSize is the side files are decoded to (0 = unknown).
	decodeSize int
	// Meta is the export metadata, nil for models not written by export.
	Meta *signature.Metadata

	embed, classify *imageSig
	embedErr        error
}

// imageSig is a signature taking one uint8 NHWC images input.
type imageSig struct {
	name     string
	inName   string
	input    tfgraph.Output
	inShape  []int64 // static NHWC shape, -1 = any
	outputs  []string
	channels int // -1 when the model accepts any
}

// Load loads the SavedModel in dir. It fails when dir is not a SavedModel
// (the error says why); a model whose serving_default signature does not
// take uint8 images loads, but Embed then reports why it cannot be used.
func Load(dir string, opts ...Option) (*Model, error) {
	o := options{batch: DefaultBatchSize}
	for _, f := range opts {
		f(&o)
	}
	if o.batch < 1 {
		return nil, fmt.Errorf("serve: batch size %d, want at least 1", o.batch)
	}
	if o.imageSize < 0 {
		return nil, fmt.Errorf("serve: image size %d, want a positive size", o.imageSize)
	}
	sm, err := tfgraph.LoadSavedModel(dir, o.tags, o.sess)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	m := &Model{sm: sm, batch: o.batch, decodeSize: o.imageSize}
	if b, err := sm.ReadExtra(signature.MetadataFile); err == nil {
		var meta signature.Metadata
		if err := json.Unmarshal(b, &meta); err != nil {
			sm.Close()
			return nil, fmt.Errorf("serve: %s: corrupt %s: %v", dir, signature.MetadataFile, err)
		}
		m.Meta = &meta
		if m.decodeSize == 0 {
			m.decodeSize = meta.ImageSize
		}
	}
	m.embed, m.embedErr = m.imageSignature(signature.Embedding, signature.OutEmbedding)
	if _, ok := sm.Signatures[signature.Classify]; ok {
		cs, err := m.imageSignature(signature.Classify, signature.OutProbs, signature.OutClasses)
		if err != nil {
			sm.Close()
			return nil, fmt.Errorf("serve: %w", err)
		}
		m.classify = cs
	}
	return m, nil
}

// imageSignature resolves a signature with one uint8 image input and the
// named outputs (or, for a single-output signature, its only output when
// the first name is absent).
func (m *Model) imageSignature(name string, outs ...string) (*imageSig, error) {
	sig, ok := m.sm.Signatures[name]
	if !ok {
		return nil, fmt.Errorf("%s: no %s signature (have %v)", m.sm.Dir, name, m.sm.SignatureNames())
	}
	s := &imageSig{name: name}
	if in, ok := sig.Inputs[signature.InputImages]; ok {
		s.inName, s.input = signature.InputImages, in
	} else if len(sig.Inputs) == 1 {
		for k, in := range sig.Inputs {
			s.inName, s.input = k, in
		}
	} else {
		return nil, fmt.Errorf("%s: signature %s has %d inputs and none named %q", m.sm.Dir, name, len(sig.Inputs), signature.InputImages)
	}
	if dt := s.input.DataType(); dt != tfgraph.Uint8 {
		return nil, fmt.Errorf("%s: signature %s takes %s images, Embed and Predict feed uint8 (call Run with tensors instead)", m.sm.Dir, name, tfgraph.DTypeName(dt))
	}
	sh := s.input.Shape()
	if sh.NumDimensions() >= 0 && sh.NumDimensions() != 4 {
		return nil, fmt.Errorf("%s: signature %s takes a rank-%d input, want NHWC images", m.sm.Dir, name, sh.NumDimensions())
	}
	s.inShape = []int64{-1, -1, -1, -1}
	if sh.NumDimensions() == 4 {
		for i := range s.inShape {
			s.inShape[i] = sh.Size(i)
		}
	}
	s.channels = int(s.inShape[3])
	for i, o := range outs {
		t, ok := sig.Outputs[o]
		if !ok && i == 0 && len(sig.Outputs) == 1 {
			for k, only := range sig.Outputs {
				o, t, ok = k, only, true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s: signature %s has no output %q", m.sm.Dir, name, o)
		}
		if i == 0 && t.DataType() != tfgraph.Float {
			return nil, fmt.Errorf("%s: signature %s: output %s is %s, want float32", m.sm.Dir, name, o, tfgraph.DTypeName(t.DataType()))
		}
		s.outputs = append(s.outputs, o)
	}
	return s, nil
}

// Close releases the TensorFlow session. The Model must not be used after.
func (m *Model) Close() error { return m.sm.Close() }

// Dir is the SavedModel's directory.
func (m *Model) Dir() string { return m.sm.Dir }

// Signatures lists the model's signatures.
func (m *Model) Signatures() []string { return m.sm.SignatureNames() }

// Channels is the channel count Embed expects, or -1 when the model takes
// any (or cannot embed).
func (m *Model) Channels() int {
	if m.embed == nil {
		return -1
	}
	return m.embed.channels
}

// HasClassifier reports whether Predict works.
func (m *Model) HasClassifier() bool { return m.classify != nil }

// Run calls any signature with tensors (see tfgraph.SavedModel.Run).
func (m *Model) Run(signature string, inputs map[string]*tfgraph.Tensor, outputs ...string) (map[string]*tfgraph.Tensor, error) {
	return m.sm.Run(signature, inputs, outputs...)
}

// check validates a raw uint8 NHWC batch against the signature.
func (s *imageSig) check(images []byte, n, h, w, c int) error {
	if n < 0 {
		return fmt.Errorf("serve: %d images", n)
	}
	if h <= 0 || w <= 0 {
		return fmt.Errorf("serve: image size %dx%d (height x width), both must be positive", h, w)
	}
	if c <= 0 {
		return fmt.Errorf("serve: %d channels, must be positive", c)
	}
	if s.channels > 0 && c != s.channels {
		hint := ""
		if s.channels == 3 && c == 1 {
			hint = " (repeat grey images to RGB first, e.g. with data.Images.ToRGB)"
		}
		return fmt.Errorf("serve: the model expects %d channels, got %d%s", s.channels, c, hint)
	}
	if s.inShape[1] > 0 && int64(h) != s.inShape[1] || s.inShape[2] > 0 && int64(w) != s.inShape[2] {
		return fmt.Errorf("serve: the model expects %dx%d images, got %dx%d", s.inShape[1], s.inShape[2], h, w)
	}
	per := int64(h) * int64(w)
	if per > math.MaxInt32 || per*int64(c) > math.MaxInt32 {
		return fmt.Errorf("serve: image of %dx%dx%d is too large", h, w, c)
	}
	per *= int64(c)
	if n > 0 && per > int64(math.MaxInt)/int64(n) {
		return fmt.Errorf("serve: %d images of %d bytes overflow", n, per)
	}
	if want := per * int64(n); int64(len(images)) != want {
		return fmt.Errorf("serve: got %d bytes of pixels, expected n*h*w*c = %d*%d*%d*%d = %d", len(images), n, h, w, c, want)
	}
	return nil
}

// run feeds images batch by batch and returns the fetched tensors of each
// batch.
func (m *Model) run(s *imageSig, images []byte, n, h, w, c int) ([][]*tfgraph.Tensor, error) {
	if err := s.check(images, n, h, w, c); err != nil {
		return nil, err
	}
	per := h * w * c
	var chunks [][]*tfgraph.Tensor
	for lo := 0; lo < n; lo += m.batch {
		k := min(m.batch, n-lo)
		t, err := tfgraph.NewTensor(images[lo*per : (lo+k)*per])
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		if err := t.Reshape([]int64{int64(k), int64(h), int64(w), int64(c)}); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		res, err := m.sm.Run(s.name, map[string]*tfgraph.Tensor{s.inName: t}, s.outputs...)
		if err != nil {
			return nil, fmt.Errorf("serve: images %d..%d: %w", lo, lo+k-1, err)
		}
		out := make([]*tfgraph.Tensor, len(s.outputs))
		for i, name := range s.outputs {
			out[i] = res[name]
		}
		chunks = append(chunks, out)
	}
	return chunks, nil
}

// floatRows reads a float32 [k, d] tensor.
func floatRows(t *tfgraph.Tensor, what string) ([][]float32, error) {
	v, ok := t.Value().([][]float32)
	if !ok {
		return nil, fmt.Errorf("serve: %s is %T, want a float32 matrix", what, t.Value())
	}
	return v, nil
}

// Embed maps n uint8 images of h x w x c (NHWC, row-major, channels
// interleaved) to their embeddings, one []float32 of FeatureDim per image.
// The model resizes and normalises in its graph, so any h and w work; c
// must be the model's channel count. n = 0 gives an empty result.
func (m *Model) Embed(images []byte, n, h, w, c int) ([][]float32, error) {
	if m.embed == nil {
		return nil, fmt.Errorf("serve: cannot embed: %w", m.embedErr)
	}
	chunks, err := m.run(m.embed, images, n, h, w, c)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, 0, n)
	for _, ch := range chunks {
		rows, err := floatRows(ch[0], m.embed.outputs[0])
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// EmbedImages embeds a data set (see Embed).
func (m *Model) EmbedImages(imgs *data.Images) ([][]float32, error) {
	if imgs == nil {
		return nil, errors.New("serve: no images")
	}
	if err := imgs.Validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return m.Embed(imgs.Pix, imgs.N, imgs.H, imgs.W, imgs.C)
}

// Prediction is the classifier's answer for one image.
type Prediction struct {
	// Class is the index of the most probable class.
	Class int
	// Name is the class name when the model records names, else "".
	Name string
	// Probabilities holds the softmax over the K classes.
	Probabilities []float32
}

// Predict classifies n uint8 images (as Embed takes them) with the model's
// classify signature.
func (m *Model) Predict(images []byte, n, h, w, c int) ([]Prediction, error) {
	if m.classify == nil {
		return nil, m.noClassifier()
	}
	chunks, err := m.run(m.classify, images, n, h, w, c)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, 0, n)
	for _, ch := range chunks {
		p, err := m.predictions(ch)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

// noClassifier is the error of Predict on a model without classify.
func (m *Model) noClassifier() error {
	return fmt.Errorf("serve: %s has no %s signature (export it with export.ExportClassifier)", m.sm.Dir, signature.Classify)
}

// predictions reads one batch's probabilities and classes.
func (m *Model) predictions(ch []*tfgraph.Tensor) ([]Prediction, error) {
	probs, err := floatRows(ch[0], signature.OutProbs)
	if err != nil {
		return nil, err
	}
	classes, ok := ch[1].Value().([]int32)
	if !ok {
		return nil, fmt.Errorf("serve: %s is %T, want int32", signature.OutClasses, ch[1].Value())
	}
	out := make([]Prediction, 0, len(probs))
	for i := range probs {
		p := Prediction{Class: int(classes[i]), Probabilities: probs[i]}
		if m.Meta != nil && p.Class >= 0 && p.Class < len(m.Meta.ClassNames) {
			p.Name = m.Meta.ClassNames[p.Class]
		}
		out = append(out, p)
	}
	return out, nil
}

// PredictImages classifies a data set (see Predict).
func (m *Model) PredictImages(imgs *data.Images) ([]Prediction, error) {
	if imgs == nil {
		return nil, errors.New("serve: no images")
	}
	if err := imgs.Validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return m.Predict(imgs.Pix, imgs.N, imgs.H, imgs.W, imgs.C)
}

// ClassNames are the class names recorded at export (nil if none).
func (m *Model) ClassNames() []string {
	if m.Meta == nil {
		return nil
	}
	return append([]string(nil), m.Meta.ClassNames...)
}
