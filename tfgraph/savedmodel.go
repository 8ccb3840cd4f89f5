package tfgraph

// SavedModels: writing graph-only (TF1-style) SavedModels from Go and loading
// any SavedModel (TF1 or TF2) into a session.
//
// A directory written by WriteSavedModel holds
//
//	saved_model.pb                        SavedModel{schema 1, one MetaGraphDef}
//	variables/variables.index             the Saver's checkpoint (V2 format)
//	variables/variables.data-00000-of-00001
//	assets.extra/...                      optional extra files (ignored by loaders)
//
// The MetaGraphDef carries the tags (["serve"]), the GraphDef, a SaverDef
// naming the Saver's filename tensor, save tensor and restore op, and the
// signatures. Loaders (the C API's TF_LoadSessionFromSavedModel behind
// LoadSavedModel, TensorFlow Serving, Python's tf.saved_model.load, which
// wraps such graphs with load_v1_in_v2) import the graph, feed
// variables/variables into the filename tensor and run the restore op. No
// init op is needed: every variable the signatures use is restored, and
// WriteSavedModel checks that.
//
// savedmodel_write.go writes such directories, savedmodel_load.go loads
// SavedModels and savedmodel_run.go calls their signatures.

// Constants of the SavedModel format.
const (
	// ServeTag tags the MetaGraphDef used for inference.
	ServeTag = "serve"
	// DefaultSignature is the signature serving systems call by default.
	DefaultSignature = "serving_default"
	// PredictMethod is the method name of prediction signatures.
	PredictMethod = "tensorflow/serving/predict"
	// SavedModelFile is the protobuf file of a SavedModel directory.
	SavedModelFile = "saved_model.pb"
	// VariablesPrefix is the checkpoint prefix inside a SavedModel directory.
	VariablesPrefix = "variables/variables"
	// ExtraDir holds files loaders ignore (metadata for tools).
	ExtraDir = "assets.extra"
	// initOpSignature is TF2's pseudo-signature naming the init op.
	initOpSignature = "__saved_model_init_op"
)

// Signature is one entry point of a SavedModel: named inputs and outputs of
// the graph. MethodName defaults to PredictMethod.
type Signature struct {
	Inputs, Outputs map[string]Output
	MethodName      string
}
