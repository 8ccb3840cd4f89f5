// Package configs is the single source of truth for the configuration of the
// SimSiam trainer (Chen & He, "Exploring Simple Siamese Representation
// Learning", 2020).
//
// A configuration is one YAML document that maps one to one onto [Config].
// Every key has a default (see [Default], which follows the paper's ImageNet
// recipe), and [Load] layers, from weakest to strongest:
//
//  1. the defaults,
//  2. a preset embedded in this package (see [Presets]) or a YAML file; a
//     document may start with "base: NAME" to override the preset NAME
//     instead of the defaults (see [BaseKey]), and each preset writes only
//     the keys it changes,
//  3. SIMSIAM_* environment variables (SIMSIAM_OPTIM_BATCH_SIZE=64 sets
//     optim.batch_size),
//  4. --set style overrides ("optim.batch_size=64", "data.mean=[0.5]").
//
// Reading is strict: unknown keys, values of the wrong type and values out of
// range are errors that name the offending key, and [Config.Validate] reports
// every problem at once ([Load]'s error lists at most [MaxErrors] problems,
// then their count). A file
// over [MaxFileBytes], an override over [MaxValueBytes] and a value of more
// than [MaxValueNodes] YAML nodes with its aliases expanded are refused
// before they are decoded. [Reference] renders the documentation of every key
// as a Markdown table; the descriptions live in the `doc` struct tags below so
// that the code, the YAML and the README cannot drift apart.
package configs

// Config is the complete configuration of a SimSiam run: pretraining data,
// evaluation data, augmentation, network, optimiser, training loop, linear
// evaluation and TensorFlow runtime.
type Config struct {
	// Seed seeds every random number generator of the run.
	Seed int64 `mapstructure:"seed" yaml:"seed" doc:"Seed for every random number generator (data order, augmentation, weight initialisation)."`
	// OutputDir receives checkpoints, logs and the effective configuration.
	OutputDir string `mapstructure:"output_dir" yaml:"output_dir" doc:"Directory that receives checkpoints, logs and the effective configuration of the run."`
	// Data describes the unlabelled pretraining images.
	Data Data `mapstructure:"data" yaml:"data" doc:"Pretraining data."`
	// Eval describes the labelled images of the kNN monitor and the linear evaluation.
	Eval Eval `mapstructure:"eval" yaml:"eval" doc:"Labelled data for the kNN monitor and the linear evaluation."`
	// Augment configures the two random views of every image.
	Augment Augment `mapstructure:"augment" yaml:"augment" doc:"Augmentation that produces the two views of every image."`
	// Model configures the encoder, projector and predictor.
	Model Model `mapstructure:"model" yaml:"model" doc:"Backbone, projection MLP and prediction MLP."`
	// Method selects the self-supervised method and holds each method's own keys.
	Method Method `mapstructure:"method" yaml:"method" doc:"Self-supervised method the pretraining trains, and each method's own keys."`
	// Optim configures the pretraining optimiser.
	Optim Optim `mapstructure:"optim" yaml:"optim" doc:"Pretraining optimiser (SGD with momentum and a cosine schedule)."`
	// Train configures the pretraining loop.
	Train Train `mapstructure:"train" yaml:"train" doc:"Pretraining loop: length, logging, checkpoints and kNN monitor."`
	// Linear configures the linear evaluation of the frozen encoder.
	Linear Linear `mapstructure:"linear" yaml:"linear" doc:"Linear evaluation of the frozen encoder."`
	// Runtime configures the TensorFlow session.
	Runtime Runtime `mapstructure:"runtime" yaml:"runtime" doc:"TensorFlow runtime: compilation, threads, devices and session target."`
}

// Data describes the pretraining images.
type Data struct {
	// Format is the on-disk layout of the data set.
	Format string `mapstructure:"format" yaml:"format" doc:"On-disk layout of the pretraining set: stl10 (stl10_binary), cifar10 / cifar100 (binary version), idx (MNIST-style idx files, optionally gzipped), folder (one sub-directory of images per class), tfrecord (TFRecord files of tf.train.Example with PNG or JPEG images) or tfds (a data set prepared by TensorFlow Datasets)."`
	// Dir is the directory that holds the data set files.
	Dir string `mapstructure:"dir" yaml:"dir" doc:"Directory that holds the data set files. tfrecord: a folder of *.tfrecord* files, a glob or one file; tfds: the versioned folder (~/tensorflow_datasets/stl10/1.0.0) or a name as tfds.load spells it (stl10, stl10:1.0.0), found under TFDS_DATA_DIR or ~/tensorflow_datasets."`
	// Split selects the part of the data set used for pretraining.
	Split string `mapstructure:"split" yaml:"split" doc:"Part of the data set used for pretraining. stl10: unlabeled, train, test or train+unlabeled; cifar10, cifar100, idx: train or test; folder: ignored (dir points at the class folders); tfrecord: a sub-folder, else the files with the split as a word of their name, \"\" = all; tfds: the data set's splits, joined with + (stl10: train+unlabelled; unlabeled also finds unlabelled)."`
	// ImageSize is the network input size after augmentation.
	ImageSize int `mapstructure:"image_size" yaml:"image_size" doc:"Side of the square network input after augmentation, in pixels (32 for CIFAR, 96 for STL-10, 224 for ImageNet folders)."`
	// Channels is the number of input channels of the network.
	Channels int `mapstructure:"channels" yaml:"channels" doc:"Input channels of the network, 1 or 3; grey data sets are repeated to 3 channels when 3."`
	// Mean is subtracted from every channel after augmentation.
	Mean []float64 `mapstructure:"mean" yaml:"mean" doc:"Per-channel mean subtracted after augmentation (pixel values in [0,1]): one entry per channel, one for every channel, or none (0)."`
	// Std divides every channel after the mean is subtracted.
	Std []float64 `mapstructure:"std" yaml:"std" doc:"Per-channel standard deviation that divides after the mean is subtracted: one entry per channel, one for every channel, or none (1); entries > 0."`
	// DropLast drops the last incomplete batch of every epoch.
	DropLast bool `mapstructure:"drop_last" yaml:"drop_last" doc:"Drop the last incomplete batch of every epoch so that every step sees a full batch."`
	// Prefetch is the number of batches prepared ahead of the training step.
	Prefetch int `mapstructure:"prefetch" yaml:"prefetch" doc:"Number of batches prepared ahead of the training step (0 = none)."`
	// Limit restricts pretraining to the first Limit images.
	Limit int `mapstructure:"limit" yaml:"limit" doc:"Use only the first N images of the split, 0 = all."`
	// ImageFeature names the tf.train.Example feature holding the image.
	ImageFeature string `mapstructure:"image_feature" yaml:"image_feature" doc:"tfrecord and tfds: the tf.train.Example feature holding the encoded PNG or JPEG image (a bytes_list), decoded to data.channels channels."`
	// LabelFeature names the tf.train.Example feature holding the label.
	LabelFeature string `mapstructure:"label_feature" yaml:"label_feature" doc:"tfrecord and tfds: the int64_list feature holding the class label; a set without it, or with a label -1 (TFDS's unlabelled images), is unlabelled."`
}

// Eval describes the labelled images used by the kNN monitor and the linear evaluation.
type Eval struct {
	// Format is the on-disk layout of the labelled data set.
	Format string `mapstructure:"format" yaml:"format" doc:"On-disk layout of the labelled set: stl10, cifar10, cifar100, idx, folder, tfrecord or tfds (as data.format)."`
	// Dir is the directory that holds the labelled data set.
	Dir string `mapstructure:"dir" yaml:"dir" doc:"Directory that holds the labelled data set (tfrecord, tfds: as data.dir)."`
	// TrainSplit is the labelled split used as kNN memory bank and linear training set.
	TrainSplit string `mapstructure:"train_split" yaml:"train_split" doc:"Labelled split used as kNN memory bank and linear training set (train or test; folder: sub-directory of dir; tfrecord, tfds: as data.split)."`
	// TestSplit is the split on which kNN and linear accuracy are measured.
	TestSplit string `mapstructure:"test_split" yaml:"test_split" doc:"Split on which kNN and linear accuracy are measured (train or test; folder: sub-directory of dir; tfrecord, tfds: as data.split)."`
	// LimitTrain restricts the labelled training split to its first LimitTrain images.
	LimitTrain int `mapstructure:"limit_train" yaml:"limit_train" doc:"Use only the first N images of train_split, 0 = all."`
	// LimitTest restricts the test split to its first LimitTest images.
	LimitTest int `mapstructure:"limit_test" yaml:"limit_test" doc:"Use only the first N images of test_split, 0 = all."`
	// ImageFeature names the tf.train.Example feature holding the image.
	ImageFeature string `mapstructure:"image_feature" yaml:"image_feature" doc:"tfrecord and tfds: the feature holding the encoded image (as data.image_feature)."`
	// LabelFeature names the tf.train.Example feature holding the label.
	LabelFeature string `mapstructure:"label_feature" yaml:"label_feature" doc:"tfrecord and tfds: the int64_list feature holding the class label (as data.label_feature)."`
}

// Augment configures the SimSiam augmentation (the MoCo v2 / SimCLR recipe).
type Augment struct {
	// CropScale bounds the area fraction of the random resized crop.
	CropScale []float64 `mapstructure:"crop_scale" yaml:"crop_scale" doc:"[min, max] fraction of the image area kept by the random resized crop."`
	// CropRatio bounds the aspect ratio of the random resized crop.
	CropRatio []float64 `mapstructure:"crop_ratio" yaml:"crop_ratio" doc:"[min, max] aspect ratio (width/height) of the random resized crop."`
	// JitterProb is the probability of applying colour jitter.
	JitterProb float64 `mapstructure:"jitter_prob" yaml:"jitter_prob" doc:"Probability of applying colour jitter to a view."`
	// Brightness is the brightness jitter strength.
	Brightness float64 `mapstructure:"brightness" yaml:"brightness" doc:"Brightness jitter: factor drawn from [1-b, 1+b]."`
	// Contrast is the contrast jitter strength.
	Contrast float64 `mapstructure:"contrast" yaml:"contrast" doc:"Contrast jitter: factor drawn from [1-c, 1+c]."`
	// Saturation is the saturation jitter strength.
	Saturation float64 `mapstructure:"saturation" yaml:"saturation" doc:"Saturation jitter: factor drawn from [1-s, 1+s] (no effect on grey images)."`
	// Hue is the hue jitter strength.
	Hue float64 `mapstructure:"hue" yaml:"hue" doc:"Hue jitter: shift drawn from [-h, h] in turns, at most 0.5 (no effect on grey images)."`
	// GrayscaleProb is the probability of converting a view to grey.
	GrayscaleProb float64 `mapstructure:"grayscale_prob" yaml:"grayscale_prob" doc:"Probability of converting a view to grey."`
	// BlurProb is the probability of a Gaussian blur.
	BlurProb float64 `mapstructure:"blur_prob" yaml:"blur_prob" doc:"Probability of a Gaussian blur (0 for small images such as CIFAR)."`
	// BlurSigma bounds the standard deviation of the Gaussian blur.
	BlurSigma []float64 `mapstructure:"blur_sigma" yaml:"blur_sigma" doc:"[min, max] standard deviation of the Gaussian blur, in pixels."`
	// SolarizeProb is the probability of solarizing a view.
	SolarizeProb float64 `mapstructure:"solarize_prob" yaml:"solarize_prob" doc:"Probability of solarizing a view (values >= 0.5 become 1 - x), applied after the blur; 0 in SimSiam's recipe (BYOL uses 0 and 0.2 for its two views)."`
	// FlipProb is the probability of a horizontal flip.
	FlipProb float64 `mapstructure:"flip_prob" yaml:"flip_prob" doc:"Probability of a horizontal flip."`
	// EraseProb is the probability of erasing a rectangle of a view.
	EraseProb float64 `mapstructure:"erase_prob" yaml:"erase_prob" doc:"Probability of erasing one rectangle of a view after normalisation (random erasing, Zhong et al. 2017, as torchvision's RandomErasing with value 0: the data set's mean), its aspect ratio log-uniform in [0.3, 3.3]; 0 in SimSiam's recipe."`
	// EraseScale bounds the area fraction of the erased rectangle.
	EraseScale []float64 `mapstructure:"erase_scale" yaml:"erase_scale" doc:"[min, max] fraction of the view's area that random erasing sets to the mean."`
	// LocalCrops is the number of small extra views per image (multi-crop).
	LocalCrops int `mapstructure:"local_crops" yaml:"local_crops" doc:"Small extra views per image (multi-crop, Caron et al. 2020): each is predicted towards both full-size views' projections; 0 = SimSiam's two views."`
	// LocalSize is the side of the local views in pixels.
	LocalSize int `mapstructure:"local_size" yaml:"local_size" doc:"Side of the local views in pixels; 0 = half of data.image_size."`
	// LocalScale bounds the area fraction of the local views' crops.
	LocalScale []float64 `mapstructure:"local_scale" yaml:"local_scale" doc:"[min, max] fraction of the image area kept by a local view's crop."`
}

// LocalSide is the side in pixels of the local views for images of the
// given size: a.LocalSize, or half the size when it is 0.
func (a Augment) LocalSide(imageSize int) int {
	if a.LocalSize > 0 {
		return a.LocalSize
	}
	return (imageSize + 1) / 2
}

// Model configures the encoder f (backbone + projection MLP) and the predictor h.
type Model struct {
	// Arch names the backbone architecture (package model/arch lists them).
	Arch string `mapstructure:"arch" yaml:"arch" doc:"Backbone: resnet10, resnet18, resnet34, resnet50 or resnet101 (torchvision layouts; resnet10 is resnet18 with one basic block per stage)."`
	// Stem selects the first layers of the backbone.
	Stem string `mapstructure:"stem" yaml:"stem" doc:"Backbone stem: imagenet (7x7 stride-2 convolution and max pooling) or cifar (3x3 stride-1 convolution, no pooling)."`
	// Width is the number of channels of the first stage.
	Width int `mapstructure:"width" yaml:"width" doc:"Channels of the first backbone stage; later stages double it (64 = torchvision)."`
	// ProjDim is the output dimension of the projection MLP.
	ProjDim int `mapstructure:"proj_dim" yaml:"proj_dim" doc:"Output dimension of the projection MLP, i.e. of the representation z."`
	// ProjHidden is the hidden dimension of the projection MLP.
	ProjHidden int `mapstructure:"proj_hidden" yaml:"proj_hidden" doc:"Hidden dimension of the projection MLP."`
	// ProjLayers is the number of linear layers of the projection MLP.
	ProjLayers int `mapstructure:"proj_layers" yaml:"proj_layers" doc:"Linear layers of the projection MLP, 2 or 3 (3 in the ImageNet recipe, 2 in the CIFAR appendix)."`
	// PredHidden is the bottleneck dimension of the prediction MLP.
	PredHidden int `mapstructure:"pred_hidden" yaml:"pred_hidden" doc:"Hidden (bottleneck) dimension of the prediction MLP h."`
	// StopGradient applies the stop-gradient on the target branch.
	StopGradient bool `mapstructure:"stop_gradient" yaml:"stop_gradient" doc:"Apply stop-gradient to the target branch; false reproduces the paper's collapse ablation."`
	// ZeroInitResidual zero-initialises the last batch norm of every residual block.
	ZeroInitResidual bool `mapstructure:"zero_init_residual" yaml:"zero_init_residual" doc:"Zero-initialise the scale of the last batch norm of every residual block."`
	// BNEps is the epsilon of every batch norm.
	BNEps float64 `mapstructure:"bn_eps" yaml:"bn_eps" doc:"Epsilon added to the variance in every batch norm."`
	// BNMomentum is the running-statistics momentum of every batch norm.
	BNMomentum float64 `mapstructure:"bn_momentum" yaml:"bn_momentum" doc:"Batch-norm momentum in the PyTorch convention: running = (1-m)*running + m*batch."`
	// SyncBN uses BatchNorm statistics over the global batch with several workers.
	SyncBN bool `mapstructure:"sync_bn" yaml:"sync_bn" doc:"With several workers (data parallelism): BatchNorm in training uses the statistics of the whole global batch (per-channel sums all-reduced in the forward pass, their gradients in the backward pass), as one process with that batch would; false = each worker's own slice (the official SimSiam code without SyncBatchNorm). No effect on a single process."`
}

// Method selects the self-supervised method. Each method's own keys are
// a section named after it; a key of a method other than Name must keep its
// default ([Config.Validate] names it otherwise).
type Method struct {
	// Name is the method.
	Name string `mapstructure:"name" yaml:"name" doc:"Self-supervised method: simsiam (Chen & He 2021: predictor and stop-gradient, negative cosine), simclr (Chen et al. 2020: NT-Xent over the 2N views, no predictor; with several workers the negatives are the global batch), barlow_twins (Zbontar et al. 2021: cross-correlation of the batch-normalised projections, no predictor; with several workers over the global batch) or byol (Grill et al. 2020: predictor on the online network against a target network that is an exponential moving average of it, checkpointed under target/). Every method trains the same backbone and projector (model.*); model.pred_hidden concerns simsiam and byol, model.stop_gradient and optim.fix_pred_lr simsiam only."`
	// SimCLR holds SimCLR's keys.
	SimCLR SimCLR `mapstructure:"simclr" yaml:"simclr" doc:"SimCLR's keys (method.name simclr only)."`
	// BarlowTwins holds Barlow Twins' keys.
	BarlowTwins BarlowTwins `mapstructure:"barlow_twins" yaml:"barlow_twins" doc:"Barlow Twins' keys (method.name barlow_twins only)."`
	// BYOL holds BYOL's keys.
	BYOL BYOL `mapstructure:"byol" yaml:"byol" doc:"BYOL's keys (method.name byol only)."`
}

// BYOL configures the moving-average target network.
type BYOL struct {
	// TauBase is the target's moving-average rate at the first step.
	TauBase float64 `mapstructure:"tau_base" yaml:"tau_base" doc:"Moving-average rate of the target network at the first step: target = tau target + (1 - tau) online after every applied step, tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2 rising to 1 at the last step K (the paper: 0.996)."`
}

// SimCLR configures the NT-Xent loss.
type SimCLR struct {
	// Temperature divides the cosine similarities of NT-Xent.
	Temperature float64 `mapstructure:"temperature" yaml:"temperature" doc:"Temperature T of NT-Xent: the cosine similarities are divided by it (SimCLR: 0.1 on ImageNet with large batches, 0.5 the usual CIFAR-10 choice)."`
}

// BarlowTwins configures the cross-correlation loss.
type BarlowTwins struct {
	// Lambda weighs the off-diagonal terms of the loss.
	Lambda float64 `mapstructure:"lambda" yaml:"lambda" doc:"Weight of the off-diagonal (redundancy reduction) terms: loss = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2 (the paper: 5e-3)."`
}

// Optim configures the pretraining optimiser.
type Optim struct {
	// BatchSize is the global pretraining batch size.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" doc:"Global pretraining batch size; with several workers each trains on batch_size/workers images a step (a multiple of the worker count)."`
	// Epochs is the length of pretraining and of the cosine schedule.
	Epochs int `mapstructure:"epochs" yaml:"epochs" doc:"Pretraining epochs; the cosine learning-rate schedule spans them."`
	// BaseLR is the learning rate for a batch of 256.
	BaseLR float64 `mapstructure:"base_lr" yaml:"base_lr" doc:"Learning rate for a batch of 256; the actual rate is base_lr * batch_size / 256."`
	// Momentum is the SGD momentum.
	Momentum float64 `mapstructure:"momentum" yaml:"momentum" doc:"SGD momentum."`
	// WeightDecay is the L2 weight decay.
	WeightDecay float64 `mapstructure:"weight_decay" yaml:"weight_decay" doc:"L2 weight decay."`
	// FixPredLR keeps the predictor's learning rate constant.
	FixPredLR bool `mapstructure:"fix_pred_lr" yaml:"fix_pred_lr" doc:"Keep the predictor's learning rate at the initial value instead of decaying it."`
	// WarmupEpochs is the length of the linear warm-up.
	WarmupEpochs int `mapstructure:"warmup_epochs" yaml:"warmup_epochs" doc:"Epochs of linear learning-rate warm-up before the cosine decay, 0 = none."`
	// Name is the optimiser: sgd (momentum SGD) or lars.
	Name string `mapstructure:"name" yaml:"name" doc:"Optimiser: sgd (SGD with momentum, PyTorch's form: the paper's for SimSiam) or lars (LARS in SimCLR's form: each weight's rate scaled by lars_eta * norm(w) / norm(g + wd*w), biases and BatchNorm parameters excluded from the scaling and from weight decay; SimCLR's, BYOL's and Barlow Twins' papers)."`
	// LARSEta is LARS's trust coefficient.
	LARSEta float64 `mapstructure:"lars_eta" yaml:"lars_eta" doc:"LARS's trust coefficient eta (SimCLR's 0.001); only with optim.name lars."`
}

// Train configures the pretraining loop.
type Train struct {
	// MaxSteps caps the number of optimisation steps.
	MaxSteps int `mapstructure:"max_steps" yaml:"max_steps" doc:"Stop after this many steps, 0 = epochs * steps_per_epoch."`
	// LogEvery is the logging interval.
	LogEvery int `mapstructure:"log_every" yaml:"log_every" doc:"Log loss, learning rate and output standard deviation every N steps."`
	// CheckpointEvery is the checkpoint interval.
	CheckpointEvery int `mapstructure:"checkpoint_every" yaml:"checkpoint_every" doc:"Write a checkpoint every N steps, 0 = only at the end."`
	// KeepCheckpoints is the number of checkpoints kept on disk.
	KeepCheckpoints int `mapstructure:"keep_checkpoints" yaml:"keep_checkpoints" doc:"Number of most recent checkpoints kept on disk."`
	// KNNEvery is the interval of the kNN monitor.
	KNNEvery int `mapstructure:"knn_every" yaml:"knn_every" doc:"Run the kNN monitor on the eval data every N epochs, 0 = off."`
	// KNNK is the number of neighbours of the kNN monitor.
	KNNK int `mapstructure:"knn_k" yaml:"knn_k" doc:"Neighbours consulted by the kNN monitor."`
	// KNNTemperature is the temperature of the weighted kNN vote.
	KNNTemperature float64 `mapstructure:"knn_temperature" yaml:"knn_temperature" doc:"Temperature of the similarity-weighted kNN vote."`
	// SkipNonfiniteSteps is how many non-finite steps the run skips before it stops.
	SkipNonfiniteSteps int `mapstructure:"skip_nonfinite_steps" yaml:"skip_nonfinite_steps" doc:"Non-finite steps (loss, a gradient or a BatchNorm moving statistic NaN or Inf) skipped over the whole run before one stops it: a skipped step changes no weight, momentum or BatchNorm statistic but counts as a step; each skip is printed and written to metrics.jsonl, which is where a resumed run counts them. 0 = the first one stops the run."`
}

// Linear configures the linear evaluation of the frozen encoder.
type Linear struct {
	// Epochs is the length of linear training.
	Epochs int `mapstructure:"epochs" yaml:"epochs" doc:"Epochs of linear classifier training (cosine schedule)."`
	// BatchSize is the linear training batch size.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size" doc:"Batch size of linear classifier training."`
	// BaseLR is the linear learning rate for a batch of 256.
	BaseLR float64 `mapstructure:"base_lr" yaml:"base_lr" doc:"Learning rate for a batch of 256; the actual rate is base_lr * batch_size / 256."`
	// Momentum is the SGD momentum of linear training.
	Momentum float64 `mapstructure:"momentum" yaml:"momentum" doc:"SGD momentum of linear classifier training."`
	// WeightDecay is the weight decay of linear training.
	WeightDecay float64 `mapstructure:"weight_decay" yaml:"weight_decay" doc:"L2 weight decay of linear classifier training."`
	// Augment enables random crops and flips during linear training.
	Augment bool `mapstructure:"augment" yaml:"augment" doc:"Random resized crop and flip during linear training (center crop otherwise)."`
	// CachedFeatures computes the frozen features once and trains on them.
	CachedFeatures bool `mapstructure:"cached_features" yaml:"cached_features" doc:"Compute the frozen features once and train the classifier on them (fast; requires augment false)."`
}

// Runtime configures the TensorFlow session.
type Runtime struct {
	// XLA enables XLA JIT compilation.
	XLA bool `mapstructure:"xla" yaml:"xla" doc:"Enable XLA JIT compilation of the graph."`
	// OneDNN runs TensorFlow's CPU kernels through oneDNN.
	OneDNN bool `mapstructure:"onednn" yaml:"onednn" doc:"Run TensorFlow's CPU kernels through oneDNN (sets TF_ENABLE_ONEDNN_OPTS; TensorFlow's own default is on only for CPUs with AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX). About 2x faster training on a 2-core AVX2 CPU. TensorFlow reads the variable when it loads, so the simsiam command restarts itself to apply this; programs using the packages set the variable themselves."`
	// IntraOpThreads sizes the intra-op thread pool.
	IntraOpThreads int `mapstructure:"intra_op_threads" yaml:"intra_op_threads" doc:"Threads inside one TensorFlow op, 0 = TensorFlow chooses."`
	// InterOpThreads sizes the inter-op thread pool.
	InterOpThreads int `mapstructure:"inter_op_threads" yaml:"inter_op_threads" doc:"Threads running independent TensorFlow ops, 0 = TensorFlow chooses."`
	// Devices names the one TensorFlow device a process trains on.
	Devices []string `mapstructure:"devices" yaml:"devices" doc:"The TensorFlow device this process builds its graphs for, as a one-entry list (e.g. [/device:GPU:0]); empty = the first GPU TensorFlow sees, else the CPU. A device TensorFlow does not see is an error, and so are several: data parallelism runs one worker process per device (simsiam train --workers N, or TF_CONFIG)."`
	// GPUMemoryGrowth lets TensorFlow take GPU memory as needed.
	GPUMemoryGrowth bool `mapstructure:"gpu_memory_growth" yaml:"gpu_memory_growth" doc:"Let TensorFlow allocate GPU memory as it needs it instead of nearly all of it at start, so several processes can share a GPU."`
	// Precision is the arithmetic of the matrix work.
	Precision string `mapstructure:"precision" yaml:"precision" doc:"Arithmetic of training (with its kNN monitor), kNN and linear evaluation (embed and predict take --precision, fp32 by default): fp32; bf16 (TensorFlow's oneDNN bfloat16 rewrite of the CPU graph; needs runtime.onednn; fast only on CPUs with AMX-BF16 or AVX512-BF16, emulated and slow elsewhere); fp16 (TensorFlow's float16 rewrite on CUDA GPUs, with dynamic loss scaling in the training step; no effect on a CPU); auto = bf16 when oneDNN is on and a one-second probe of the step's kernels measured bf16 at least 1.15× faster than fp32 on this CPU (once per CPU model and TensorFlow version, kept in the cache folder; the version command shows the figure), else fp32. Variables, BatchNorm statistics, the loss and checkpoints stay float32."`
	// Target is the TensorFlow session target.
	Target string `mapstructure:"target" yaml:"target" doc:"TensorFlow session target, e.g. grpc://host:port; empty = in-process. Must be empty for a worker of a data-parallel job (TF_CONFIG): it trains through its own TF server."`
	// CollectiveTimeoutS bounds every all-reduce of a data-parallel step.
	CollectiveTimeoutS float64 `mapstructure:"collective_timeout_s" yaml:"collective_timeout_s" doc:"Data-parallel training (several workers): seconds a step's all-reduce waits for the other workers before the job fails, naming the unreachable worker or this timeout. It covers a step's compute time on the slowest worker; a dead worker stops every other within it (plus at most 30 s)."`
	// BarrierTimeoutS bounds the wait for all workers at the start.
	BarrierTimeoutS float64 `mapstructure:"barrier_timeout_s" yaml:"barrier_timeout_s" doc:"Data-parallel training: seconds the workers wait for each other at the start (late workers are waited for up to it) and while the chief writes a checkpoint or runs the kNN monitor."`
}

// Default returns the defaults: the SimSiam paper's ImageNet recipe
// (ResNet-50, batch 512, base_lr 0.05, 100 epochs) reading Debian's
// Fashion-MNIST as data so that a bare run has something to read.
func Default() Config {
	return Config{
		Seed:      0,
		OutputDir: "runs/simsiam",
		Data: Data{
			Format:    "idx",
			Dir:       "/usr/share/datasets/fashion-mnist",
			Split:     "train",
			ImageSize: 224,
			Channels:  3,
			Mean:      []float64{0.485, 0.456, 0.406},
			Std:       []float64{0.229, 0.224, 0.225},
			DropLast:  true,
			Prefetch:  2,
			Limit:     0,

			ImageFeature: "image",
			LabelFeature: "label",
		},
		Eval: Eval{
			Format:     "idx",
			Dir:        "/usr/share/datasets/fashion-mnist",
			TrainSplit: "train",
			TestSplit:  "test",
			LimitTrain: 0,
			LimitTest:  0,

			ImageFeature: "image",
			LabelFeature: "label",
		},
		Augment: Augment{
			CropScale:     []float64{0.2, 1.0},
			CropRatio:     []float64{0.75, 1.3333333333333333},
			JitterProb:    0.8,
			Brightness:    0.4,
			Contrast:      0.4,
			Saturation:    0.4,
			Hue:           0.1,
			GrayscaleProb: 0.2,
			BlurProb:      0.5,
			SolarizeProb:  0,
			BlurSigma:     []float64{0.1, 2.0},
			FlipProb:      0.5,
			EraseProb:     0,
			EraseScale:    []float64{0.02, 0.33},
			LocalCrops:    0,
			LocalSize:     0,
			LocalScale:    []float64{0.05, 0.4},
		},
		Model: Model{
			Arch:             "resnet50",
			Stem:             "imagenet",
			Width:            64,
			ProjDim:          2048,
			ProjHidden:       2048,
			ProjLayers:       3,
			PredHidden:       512,
			StopGradient:     true,
			ZeroInitResidual: true,
			BNEps:            1e-5,
			BNMomentum:       0.1,
		},
		Method: Method{
			Name:        "simsiam",
			SimCLR:      SimCLR{Temperature: 0.1},
			BarlowTwins: BarlowTwins{Lambda: 5e-3},
			BYOL:        BYOL{TauBase: 0.996},
		},
		Optim: Optim{
			BatchSize:    512,
			Epochs:       100,
			BaseLR:       0.05,
			Momentum:     0.9,
			WeightDecay:  1e-4,
			FixPredLR:    true,
			WarmupEpochs: 0,
			Name:         "sgd",
			LARSEta:      0.001,
		},
		Train: Train{
			MaxSteps:           0,
			LogEvery:           10,
			CheckpointEvery:    1000,
			KeepCheckpoints:    3,
			KNNEvery:           0,
			KNNK:               200,
			KNNTemperature:     0.1,
			SkipNonfiniteSteps: 0,
		},
		Linear: Linear{
			Epochs:         90,
			BatchSize:      256,
			BaseLR:         0.1,
			Momentum:       0.9,
			WeightDecay:    0.0,
			Augment:        true,
			CachedFeatures: false,
		},
		Runtime: Runtime{
			XLA:                false,
			OneDNN:             true,
			IntraOpThreads:     0,
			InterOpThreads:     0,
			Devices:            []string{},
			GPUMemoryGrowth:    true,
			Precision:          "auto",
			Target:             "",
			CollectiveTimeoutS: 300,
			BarrierTimeoutS:    600,
		},
	}
}

// LR is the pretraining learning rate after linear scaling:
// optim.base_lr * optim.batch_size / 256.
func (c *Config) LR() float64 {
	return c.Optim.BaseLR * float64(c.Optim.BatchSize) / 256
}

// LinearLR is the linear-evaluation learning rate after linear scaling:
// linear.base_lr * linear.batch_size / 256.
func (c *Config) LinearLR() float64 {
	return c.Linear.BaseLR * float64(c.Linear.BatchSize) / 256
}
