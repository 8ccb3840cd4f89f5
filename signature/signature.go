// Package signature is the contract between a SavedModel written by package
// export and its readers (package serve, simsiam serve, Python users): the
// signature, input and output names and the metadata record kept in
// assets.extra/. It imports only the standard library, so that a program
// serving a model does not link the training code.
package signature

// Names of the exported signatures, inputs and outputs.
const (
	// Embedding is the default signature (TensorFlow's
	// "serving_default"): images -> embedding.
	Embedding = "serving_default"
	// Projection is the signature images -> projection.
	Projection = "projection"
	// Classify is the signature images -> logits, probabilities, classes.
	Classify = "classify"

	// InputImages is every signature's input: uint8 [N, H, W, C].
	InputImages = "images"

	// OutEmbedding is the pooled backbone features, float32 [N, FeatureDim].
	OutEmbedding = "embedding"
	// OutProjection is the projector output, float32 [N, proj_dim].
	OutProjection = "projection"
	// OutLogits are the classifier's logits, float32 [N, K].
	OutLogits = "logits"
	// OutProbs are the softmax of the logits, float32 [N, K].
	OutProbs = "probabilities"
	// OutClasses is the most probable class, int32 [N].
	OutClasses = "classes"
)

// Files under the SavedModel's assets.extra/.
const (
	// MetadataFile holds the JSON Metadata.
	MetadataFile = "simsiam.json"
	// ConfigFile is the copy of the training config.
	ConfigFile = "config.yaml"
)

// Metadata is what assets.extra/simsiam.json records about an exported
// model.
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
