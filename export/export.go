// Package export turns a SimSiam training checkpoint into a SavedModel for
// inference: the encoder (backbone), optionally the projector and a
// classification head, with the evaluation preprocessing inside the graph.
//
// The exported model takes raw images and returns embeddings:
//
//	input   images       uint8 [N, H, W, C]   any N, H, W; C = data.channels
//	serving_default:  images -> embedding     float32 [N, FeatureDim]  pooled backbone features
//	projection:       images -> projection    float32 [N, proj_dim]    projector output z
//	classify:         images -> logits, probabilities [N, K], classes int32 [N]
//
// Images are resized and normalised in the graph exactly as the evaluation
// transform does (augment.Eval: bilinear resize of the shorter side and
// centre crop to data.image_size, then (x/255 - data.mean) / data.std), and
// every BatchNorm uses its moving statistics. C must equal data.channels:
// grey images for a 3-channel model must be repeated to RGB by the caller
// (data.Images.ToRGB does it), RGB images for a 1-channel model converted to
// grey.
//
// The SavedModel is graph-only (TF1 style) and loads with the TensorFlow C
// API (tfgraph.LoadSavedModel, package serve), TensorFlow Serving and
// Python's tf.saved_model.load, whose .signatures["serving_default"] then
// takes images=uint8 tensor. assets.extra/simsiam.json records the
// preprocessing and sizes and assets.extra/config.yaml the full config.
package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/eval"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// Names of the exported signatures, inputs and outputs.
const (
	SigEmbedding  = tfgraph.DefaultSignature // images -> embedding
	SigProjection = "projection"             // images -> projection
	SigClassify   = "classify"               // images -> logits, probabilities, classes
	InputImages   = "images"
	OutEmbedding  = "embedding"
	OutProjection = "projection"
	OutLogits     = "logits"
	OutProbs      = "probabilities"
	OutClasses    = "classes"
	// MetadataFile is the name of the metadata file under assets.extra/.
	MetadataFile = "simsiam.json"
	// ConfigFile is the name of the config copy under assets.extra/.
	ConfigFile = "config.yaml"
	// ClassifierScope is the default variable scope of a linear head.
	ClassifierScope = "classifier"
)

// Metadata is what assets.extra/simsiam.json records about an exported model.
type Metadata struct {
	Format     int       `json:"format"` // 1
	ImageSize  int       `json:"image_size"`
	Channels   int       `json:"channels"`
	Mean       []float64 `json:"mean"`
	Std        []float64 `json:"std"`
	Arch       string    `json:"arch"`
	Stem       string    `json:"stem"`
	Width      int       `json:"width"`
	FeatureDim int64     `json:"feature_dim"`
	ProjDim    int64     `json:"proj_dim,omitempty"`
	NumClasses int64     `json:"num_classes,omitempty"`
	ClassNames []string  `json:"class_names,omitempty"`
	Checkpoint string    `json:"checkpoint"`
	Signatures []string  `json:"signatures"`
}

// Head builds a classification head on the [N, featureDim] features in scope
// s: it creates its variables (with s.Var or the tfgraph layers) and returns
// the logits [N, K] and the variables to restore.
type Head func(s *tfgraph.Scope, features tfgraph.Output, featureDim int64) (logits tfgraph.Output, vars []*tfgraph.Variable, err error)

// Classifier adds the classify signature.
type Classifier struct {
	// Checkpoint holds the head's variables; "" means the encoder's
	// checkpoint (linear evaluation saves encoder/* and classifier/* in
	// one checkpoint).
	Checkpoint string
	// Head builds the head; nil means Linear(ClassifierScope): logits =
	// features · classifier/kernel [FeatureDim, K] + classifier/bias [K],
	// with K read from the checkpoint.
	Head Head
	// ClassNames optionally names the K classes (recorded in the metadata).
	ClassNames []string
}

// Options tune ExportWith.
type Options struct {
	// Overwrite replaces an existing SavedModel in the output directory.
	Overwrite bool
	// Projection adds the projection signature; the checkpoint must then
	// hold projector/*.
	Projection bool
	// Classifier, when set, adds a head and the classify signature.
	Classifier *Classifier
	// Session configures the session used to build the model.
	Session tfgraph.SessionOptions
	// Log, when set, receives notes (a checkpoint without a model config
	// record).
	Log io.Writer
}

// Export writes the SavedModel of the training checkpoint at
// checkpointPrefix to outDir with the serving_default (images -> embedding)
// and projection (images -> projection) signatures. cfg must describe the
// network and data the checkpoint was trained with; a checkpoint of another
// architecture gives an *tfgraph.IncompatibleError naming every variable
// that is missing or has another shape. An existing non-empty outDir is an
// error unless overwrite is set.
func Export(cfg *configs.Config, checkpointPrefix, outDir string, overwrite bool) error {
	return ExportWith(cfg, checkpointPrefix, outDir, Options{Overwrite: overwrite, Projection: true})
}

// ExportClassifier exports the encoder and a classification head: the
// signatures serving_default (embedding), classify (logits, probabilities,
// classes) and, when the checkpoint also holds projector/*, projection.
// With a nil head.Head the head is the linear layer classifier/kernel
// [FeatureDim, K] and classifier/bias [K].
func ExportClassifier(cfg *configs.Config, checkpointPrefix, outDir string, overwrite bool, head Classifier) error {
	specs, err := tfgraph.ReadCheckpointIndex(checkpointPrefix)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	proj := false
	for k := range specs {
		if strings.HasPrefix(k, "projector/") {
			proj = true
			break
		}
	}
	return ExportWith(cfg, checkpointPrefix, outDir, Options{Overwrite: overwrite, Projection: proj, Classifier: &head})
}

// Linear is the default head: a dense layer scope/kernel [featureDim, K],
// scope/bias [K], with K read from the checkpoint at prefix.
func Linear(scope, prefix string) Head {
	return func(s *tfgraph.Scope, features tfgraph.Output, featureDim int64) (tfgraph.Output, []*tfgraph.Variable, error) {
		specs, err := tfgraph.ReadCheckpointIndex(prefix)
		if err != nil {
			return tfgraph.Output{}, nil, err
		}
		kernel, ok := specs[scope+"/kernel"]
		if !ok {
			return tfgraph.Output{}, nil, fmt.Errorf("checkpoint %s has no %s/kernel (not a classifier checkpoint?)", prefix, scope)
		}
		if len(kernel.Dims) != 2 || kernel.Dims[1] < 1 {
			return tfgraph.Output{}, nil, fmt.Errorf("checkpoint %s: %s/kernel has shape %v, want [%d K]", prefix, scope, kernel.Dims, featureDim)
		}
		k := kernel.Dims[1]
		d := tfgraph.NewDense(s.Graph().Root().Child(scope), featureDim, k, true, 0)
		return d.Apply(s, features), []*tfgraph.Variable{d.Kernel, d.Bias}, nil
	}
}

// ExportWith is Export with all options.
func ExportWith(cfg *configs.Config, checkpointPrefix, outDir string, o Options) error {
	if err := export(cfg, checkpointPrefix, outDir, o); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func checkData(d configs.Data) error {
	var errs []error
	if d.Channels != 1 && d.Channels != 3 {
		errs = append(errs, fmt.Errorf("data.channels must be 1 or 3, got %d", d.Channels))
	}
	if d.ImageSize < 1 {
		errs = append(errs, fmt.Errorf("data.image_size must be positive, got %d", d.ImageSize))
	}
	if _, _, err := d.Normalization(d.Channels); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func export(cfg *configs.Config, ckpt, outDir string, o Options) error {
	if cfg == nil {
		return errors.New("no config")
	}
	if ckpt == "" {
		return errors.New("no checkpoint prefix")
	}
	if err := checkData(cfg.Data); err != nil {
		return err
	}
	c := int64(cfg.Data.Channels)
	g := tfgraph.NewGraph()
	net, err := model.New(g, cfg.Model, c, cfg.Seed)
	if err != nil {
		return err
	}
	root := g.Root()
	images := root.Placeholder(InputImages, tfgraph.Uint8, []int64{-1, -1, -1, c})
	fwd := root.Child("inference")
	h := eval.Inference(root.Child("preprocess"), fwd, net.Backbone, images, cfg.Data)
	emb := root.Identity(OutEmbedding, h)

	// Variables to restore, grouped by the checkpoint they come from.
	isEncoder := func(v *tfgraph.Variable) bool { return strings.HasPrefix(v.Key, net.Backbone.VarPrefix()) }
	isProjector := func(v *tfgraph.Variable) bool { return strings.HasPrefix(v.Key, "projector/") }
	groups := map[string][]*tfgraph.Variable{}
	var exported []*tfgraph.Variable
	for _, v := range g.Variables() {
		if isEncoder(v) || (o.Projection && isProjector(v)) {
			groups[ckpt] = append(groups[ckpt], v)
			exported = append(exported, v)
		}
	}
	sigs := map[string]tfgraph.Signature{
		SigEmbedding: {Inputs: map[string]tfgraph.Output{InputImages: images}, Outputs: map[string]tfgraph.Output{OutEmbedding: emb}},
	}
	meta := Metadata{
		Format: 1, ImageSize: cfg.Data.ImageSize, Channels: cfg.Data.Channels,
		Mean: cfg.Data.Mean, Std: cfg.Data.Std,
		Arch: cfg.Model.Arch, Stem: cfg.Model.Stem, Width: cfg.Model.Width,
		FeatureDim: net.Backbone.FeatureDim(), Checkpoint: ckpt,
	}
	if o.Projection {
		z := root.Identity(OutProjection, net.Projector.Apply(fwd.Child("projector"), h, tfgraph.Inference))
		sigs[SigProjection] = tfgraph.Signature{Inputs: map[string]tfgraph.Output{InputImages: images}, Outputs: map[string]tfgraph.Output{OutProjection: z}}
		meta.ProjDim = int64(cfg.Model.ProjDim)
	}
	if o.Classifier != nil {
		hc := *o.Classifier
		hckpt := hc.Checkpoint
		if hckpt == "" {
			hckpt = ckpt
		}
		build := hc.Head
		if build == nil {
			build = Linear(ClassifierScope, hckpt)
		}
		logits, vars, err := build(fwd.Child("head"), h, net.Backbone.FeatureDim())
		if err != nil {
			return fmt.Errorf("classification head: %w", err)
		}
		if err := g.Err(); err != nil {
			return fmt.Errorf("classification head: %w", err)
		}
		if len(vars) == 0 || logits.Op == nil {
			return errors.New("classification head: no variables or no logits")
		}
		sh := logits.Shape()
		if sh.NumDimensions() != 2 {
			return fmt.Errorf("classification head: logits have shape %v, want [N K]", sh)
		}
		logits = root.Identity(OutLogits, logits)
		probs := root.Softmax(OutProbs, logits)
		if err := g.Err(); err != nil {
			return fmt.Errorf("classification head: %w", err)
		}
		classes := root.Identity(OutClasses, root.ArgMax(logits, 1))
		sigs[SigClassify] = tfgraph.Signature{
			Inputs:  map[string]tfgraph.Output{InputImages: images},
			Outputs: map[string]tfgraph.Output{OutLogits: logits, OutProbs: probs, OutClasses: classes},
		}
		for _, v := range vars {
			if isEncoder(v) || isProjector(v) {
				return fmt.Errorf("classification head: its variable %s clashes with the encoder's", v.Key)
			}
			groups[hckpt] = append(groups[hckpt], v)
			exported = append(exported, v)
		}
		meta.NumClasses = sh.Size(1)
		if len(hc.ClassNames) > 0 {
			if int64(len(hc.ClassNames)) != meta.NumClasses && meta.NumClasses > 0 {
				return fmt.Errorf("classification head: %d class names for %d classes", len(hc.ClassNames), meta.NumClasses)
			}
			meta.ClassNames = hc.ClassNames
		}
	}
	for name := range sigs {
		meta.Signatures = append(meta.Signatures, name)
	}
	sort.Strings(meta.Signatures)

	// Check every checkpoint against the variables it must provide before
	// touching TensorFlow, so a wrong architecture gives one clear list.
	prefixes := make([]string, 0, len(groups))
	for p := range groups {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	// The model config the checkpoints record comes first: a deeper
	// network's checkpoint can hold every variable with the right shape.
	keys := model.EncoderKeys
	if o.Projection {
		keys = model.RecordKeys
	}
	for _, p := range prefixes {
		note, err := model.CheckRecord(p, cfg, keys)
		if err != nil {
			return err
		}
		if note != "" && o.Log != nil {
			fmt.Fprintln(o.Log, note)
		}
	}
	var errs []error
	for _, p := range prefixes {
		if err := tfgraph.CheckCompatible(p, groups[p]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	// The model's saver (its ops become the SavedModel's SaverDef); extra
	// restore-only savers when the head lives in another checkpoint. Ops
	// the SavedModel does not need are pruned when it is written.
	saver := tfgraph.NewSaver(g, "save", exported)
	restorers := map[string]*tfgraph.Saver{}
	if len(prefixes) == 1 {
		restorers[prefixes[0]] = saver
	} else {
		for i, p := range prefixes {
			restorers[p] = tfgraph.NewSaver(g, fmt.Sprintf("restore_%d", i), groups[p])
		}
	}
	if err := g.Err(); err != nil {
		return err
	}
	sess, err := tfgraph.NewSession(g, o.Session)
	if err != nil {
		return err
	}
	defer sess.Close()
	for _, p := range prefixes {
		if err := restorers[p].RestoreFrom(sess, p); err != nil {
			return err
		}
	}
	metaJSON, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	extra := map[string][]byte{MetadataFile: append(metaJSON, '\n')}
	if y, err := cfg.YAML(); err == nil {
		extra[ConfigFile] = y
	}
	return tfgraph.WriteSavedModel(sess, saver, outDir, sigs, tfgraph.SavedModelOptions{Overwrite: o.Overwrite, Extra: extra})
}
