// Package data reads the image data sets used to train and evaluate SimSiam
// models: STL-10 and CIFAR-10/100 in their published binary formats, MNIST
// and Fashion-MNIST in IDX format (raw or gzip), plain folders of JPEG or
// PNG files, TFRecord files of tf.train.Example records holding PNG or JPEG
// images, and data sets prepared by TensorFlow Datasets (dataset_info.json,
// features.json and TFRecord shards).
//
// Every reader returns an [*Images]: one contiguous uint8 buffer in NHWC
// order plus optional int32 labels. Pixels are never widened to float for a
// whole data set; conversion to float happens per batch in the trainer. The
// large readers stream through a small bounded buffer so that reading a file
// costs about one uint8 copy of the data set in memory.
//
// Readers never panic on malformed input. Errors name the offending file and
// say what was expected and what was found; problems with the contents of a
// file are reported as [*FormatError], and problems with one TFRecord
// record (truncation, a CRC mismatch, a missing or mistyped feature) as
// [*RecordError], which names the file, the record and its byte offset.
//
// [Batcher] turns a data set size into seeded, reproducible, resumable index
// batches, and [Prefetcher] assembles the next uint8 batch on a background
// goroutine while the caller works on the current one.
package data
