package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/data/format"
)

// tfdsSplit is one split of a test TFDS folder: the image indices of each
// shard, and the label of image i (nil: -1, unlabelled).
type tfdsSplit struct {
	name   string
	shards [][]int
	label  func(i int) int64
}

// writeTFDS writes a prepared TFDS folder in the layout and JSON forms
// tensorflow-datasets 4.9 writes (tests/python/test_tfds.py checks the
// reader on folders the library itself writes): pattern images w x h.
func writeTFDS(t *testing.T, root, name string, w, h int, dims string, splits ...tfdsSplit) {
	t.Helper()
	var js []string
	for _, sp := range splits {
		var lengths []string
		for k, ids := range sp.shards {
			var recs [][]byte
			for _, i := range ids {
				lab := int64(-1)
				if sp.label != nil {
					lab = sp.label(i)
				}
				recs = append(recs, encodeExample(map[string]exFeature{
					"image": bytesFeature(encodePNG(t, patternImage(w, h, i))),
					"label": int64Feature(lab),
				}))
			}
			writeFile(t, filepath.Join(root, fmt.Sprintf("%s-%s.tfrecord-%05d-of-%05d", name, sp.name, k, len(sp.shards))), tfrecordFile(recs...))
			lengths = append(lengths, fmt.Sprintf("%q", fmt.Sprint(len(ids))))
		}
		js = append(js, fmt.Sprintf(`{"filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}", "name": %q, "numBytes": "1", "shardLengths": [%s]}`,
			sp.name, strings.Join(lengths, ", ")))
	}
	writeFile(t, filepath.Join(root, "dataset_info.json"), fmt.Appendf(nil,
		`{"fileFormat": "tfrecord", "moduleName": "x", "name": %q, "splits": [%s], "version": "1.0.0"}`, name, strings.Join(js, ", ")))
	writeFile(t, filepath.Join(root, "features.json"), fmt.Appendf(nil, `{"featuresDict": {"features": {
		"image": {"image": {"dtype": "uint8", "shape": {"dimensions": %s}}, "pythonClassName": "tensorflow_datasets.core.features.image_feature.Image"},
		"label": {"classLabel": {"numClasses": "10"}, "pythonClassName": "tensorflow_datasets.core.features.class_label_feature.ClassLabel"}
	}}, "pythonClassName": "tensorflow_datasets.core.features.features_dict.FeaturesDict"}`, dims))
	writeFile(t, filepath.Join(root, "label.labels.txt"), []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"))
}

func stlLikeTFDS(t *testing.T, root string) {
	t.Helper()
	lab := func(i int) int64 { return int64(i % 10) }
	writeTFDS(t, root, "stl10", 6, 4, `["4", "6", "3"]`,
		tfdsSplit{"train", [][]int{{0, 1, 2}, {3, 4}}, lab},
		tfdsSplit{"test", [][]int{{5, 6}}, lab},
		tfdsSplit{"unlabelled", [][]int{{7}, {8, 9}, {10}}, nil},
	)
}

func TestReadTFDS(t *testing.T) {
	root := filepath.Join(t.TempDir(), "stl10", "1.0.0")
	stlLikeTFDS(t, root)
	s, err := ReadTFDS(root, "train", "image", "label", 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 5 || s.H != 4 || s.W != 6 || s.C != 3 || s.NumClasses != 10 || len(s.ClassNames) != 10 || s.ClassNames[3] != "d" {
		t.Fatalf("train: %v, classes %d %v", s, s.NumClasses, s.ClassNames)
	}
	checkPattern(t, s, 0, 5, 0) // shard 0 then shard 1, record order kept
	for i := range 5 {
		if l := label(t, s, i); l != i {
			t.Errorf("label %d = %d", i, l)
		}
	}
	// unlabeled finds TFDS's unlabelled; -1 labels make it unlabelled.
	u, err := ReadTFDS(root, "unlabeled", "image", "label", 0, 32)
	if err != nil || u.N != 4 || u.Labels != nil {
		t.Fatalf("unlabeled: %v, %v", u, err)
	}
	checkPattern(t, u, 0, 4, 7)
	// Splits join with +, in the order given.
	j, err := ReadTFDS(root, "test+train", "image", "label", 0, 32)
	if err != nil || j.N != 7 || j.Labels == nil {
		t.Fatalf("test+train: %v, %v", j, err)
	}
	checkPattern(t, j, 0, 2, 5)
	checkPattern(t, j, 2, 5, 0)
	_, err = ReadTFDS(root, "validation", "image", "label", 0, 32)
	wantErr(t, err, `no split "validation"`, "train, test, unlabelled")
	_, err = ReadTFDS(root, "train", "picture", "label", 0, 32)
	wantFormatErr(t, err, `no feature "picture"`, "image, label", "features.json")
	// A label feature the data set lacks gives an unlabelled set.
	if s, err := ReadTFDS(root, "train", "image", "class", 0, 32); err != nil || s.Labels != nil {
		t.Fatalf("label feature class: %v, %v", s, err)
	}
	// Open goes through the same reader, with the default feature names.
	if s, err := Open(format.TFDS, root, "test", 32, 1); err != nil || s.N != 1 || s.NumClasses != 10 {
		t.Fatalf("Open: %v, %v", s, err)
	}
}

func TestReadTFDSResolve(t *testing.T) {
	base := t.TempDir()
	stlLikeTFDS(t, filepath.Join(base, "stl10", "1.0.0"))
	stlLikeTFDS(t, filepath.Join(base, "stl10", "1.10.0"))
	// Version 1.10.0 is newer than 1.2.0 (numbers, not strings) but has a
	// different shape here, so the test sees which folder was read.
	writeTFDS(t, filepath.Join(base, "stl10", "1.10.0"), "stl10", 2, 2, `["2", "2", "3"]`,
		tfdsSplit{"train", [][]int{{0}}, func(int) int64 { return 1 }})
	stlLikeTFDS(t, filepath.Join(base, "stl10", "1.2.0"))
	if err := os.MkdirAll(filepath.Join(base, "stl10", "9.0.0.incomplete"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TFDS_DATA_DIR", base)
	for _, tc := range []struct {
		dir  string
		want int // image width of the folder read
	}{
		{"stl10:1.2.0", 6},
		{"stl10", 2},
		{filepath.Join(base, "stl10"), 2},
		{filepath.Join(base, "stl10", "1.0.0"), 6},
	} {
		s, err := ReadTFDS(tc.dir, "train", "image", "label", 0, 32)
		if err != nil || s.W != tc.want {
			t.Errorf("%s: %v, %v; want width %d", tc.dir, s, err, tc.want)
		}
	}
	_, err := ReadTFDS("stl10:3.0.0", "train", "image", "label", 0, 32)
	wantErr(t, err, "no dataset_info.json in "+filepath.Join(base, "stl10", "3.0.0"))
	_, err = ReadTFDS("cifar10", "train", "image", "label", 0, 32)
	wantErr(t, err, "no folder "+filepath.Join(base, "cifar10"), "prepare it with tfds")
	_, err = ReadTFDS(filepath.Join(base, "nope", "x"), "train", "image", "label", 0, 32)
	wantErr(t, err, "is not a folder")
	t.Setenv("TFDS_DATA_DIR", "")
	t.Setenv("HOME", base)
	if err := os.Rename(filepath.Join(base, "stl10"), filepath.Join(base, "tensorflow_datasets")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(base, "tensorflow_datasets2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(base, "tensorflow_datasets"), filepath.Join(base, "tensorflow_datasets2", "stl10")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(base, "tensorflow_datasets2"), filepath.Join(base, "tensorflow_datasets")); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadTFDS("stl10:1.0.0", "train", "image", "label", 0, 32); err != nil || s.W != 6 {
		t.Errorf("~/tensorflow_datasets: %v, %v", s, err)
	}
}

func TestReadTFDSVariableShapeAndErrors(t *testing.T) {
	root := t.TempDir()
	lab := func(i int) int64 { return 3 }
	// A variable shape ([-1, -1, 3]) is resized to size x size.
	writeTFDS(t, root, "mixed", 8, 8, `["-1", "-1", "3"]`, tfdsSplit{"train", [][]int{{0, 1}}, lab})
	s, err := ReadTFDS(root, "train", "image", "label", 1, 5)
	if err != nil || s.H != 5 || s.W != 5 || s.C != 1 {
		t.Fatalf("variable shape: %v, %v", s, err)
	}

	// A shard holding another number of records than shardLengths says.
	root = t.TempDir()
	stlLikeTFDS(t, root)
	shard := filepath.Join(root, "stl10-train.tfrecord-00001-of-00002")
	writeFile(t, shard, tfrecordFile(patternExamples(t, 1, 3, 6, 4)...))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantFormatErr(t, err, shard, "holds 1 records, expected 2 (shardLengths")
	// A missing shard.
	if err := os.Remove(shard); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantErr(t, err, shard, "no such file")
	// An image of another size than features.json's shape.
	writeFile(t, shard, tfrecordFile(patternExamples(t, 2, 3, 6, 5)...))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantErr(t, err, shard, "record 0 at byte offset 0", "image is 6x5 (width x height), expected 6x4, the shape", "features.json")
	// A label outside ClassLabel's classes.
	writeFile(t, shard, tfrecordFile(encodeExample(map[string]exFeature{
		"image": bytesFeature(encodePNG(t, patternImage(6, 4, 3))), "label": int64Feature(10),
	}), encodeExample(map[string]exFeature{
		"image": bytesFeature(encodePNG(t, patternImage(6, 4, 4))), "label": int64Feature(1),
	})))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantErr(t, err, shard, "label 10 out of range, expected 0..9")
	// Metadata problems.
	writeFile(t, filepath.Join(root, "dataset_info.json"), []byte(`{"name": "x", "fileFormat": "array_record", "splits": []}`))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantFormatErr(t, err, `file format "array_record", only tfrecord`)
	writeFile(t, filepath.Join(root, "dataset_info.json"), []byte(`{"name": "x", "splits": [{"name": "train", "shardLengths": ["1", "x"]}]}`))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantFormatErr(t, err, "dataset_info.json", "not valid TFDS metadata")
	writeFile(t, filepath.Join(root, "dataset_info.json"), []byte(`{"name": "x", "splits": [{"name": "train", "shardLengths": ["1"], "filepathTemplate": "../{SPLIT}-{SHARD_INDEX}"}]}`))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantFormatErr(t, err, "unsupported filepathTemplate")
	if err := os.Remove(filepath.Join(root, "features.json")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "dataset_info.json"), []byte(`{"name": "x", "splits": []}`))
	_, err = ReadTFDS(root, "train", "image", "label", 0, 32)
	wantErr(t, err, "features.json", "no such file")
}

func TestIsTFDSName(t *testing.T) {
	for s, want := range map[string]bool{
		"stl10": true, "stl10:1.0.0": true, "cifar10_corrupted/brightness_1:1.0.0": true, "imagenet2012/subset-1pct": true,
		"": false, "/data/stl10": false, "./stl10": false, "stl10:": false, "stl10:1.": false, "stl10:v1": false,
		"STL10": false, "a/b/c": false, "stl10/": false, "~/tensorflow_datasets/stl10": false,
	} {
		if got := format.IsTFDSName(s); got != want {
			t.Errorf("IsTFDSName(%q) = %v, want %v", s, got, want)
		}
	}
}
