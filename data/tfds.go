package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/simsiam-go/simsiam/data/format"
)

// TFDS metadata files of a prepared data set folder
// (~/tensorflow_datasets/NAME[/CONFIG]/VERSION/).
const (
	tfdsInfoFile     = "dataset_info.json"
	tfdsFeaturesFile = "features.json"
	tfdsMaxJSON      = 64 << 20
	// tfdsDefaultTemplate is TFDS's shard file name template when
	// dataset_info.json names none.
	tfdsDefaultTemplate = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
)

// jsonInt is an integer that protobuf's JSON mapping writes as a string
// (int64 fields: "5000") or that other writers write as a number.
type jsonInt int64

// UnmarshalJSON accepts 5000 and "5000".
func (v *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", b)
	}
	*v = jsonInt(n)
	return nil
}

// tfdsInfo is the part of dataset_info.json (the JSON form of TFDS's
// DatasetInfo proto) the reader uses.
type tfdsInfo struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	FileFormat string `json:"fileFormat"`
	Splits     []struct {
		Name             string    `json:"name"`
		ShardLengths     []jsonInt `json:"shardLengths"`
		FilepathTemplate string    `json:"filepathTemplate"`
	} `json:"splits"`
}

// tfdsFeatures is the part of features.json the reader uses: the top-level
// FeaturesDict's features with their Image and ClassLabel descriptions.
type tfdsFeatures struct {
	FeaturesDict struct {
		Features map[string]struct {
			PythonClassName string `json:"pythonClassName"`
			Image           *struct {
				Shape struct {
					Dimensions []jsonInt `json:"dimensions"`
				} `json:"shape"`
				Dtype          string `json:"dtype"`
				EncodingFormat string `json:"encodingFormat"`
			} `json:"image"`
			ClassLabel *struct {
				NumClasses jsonInt `json:"numClasses"`
			} `json:"classLabel"`
		} `json:"features"`
	} `json:"featuresDict"`
}

// tfdsSplitAliases are other spellings of split names: STL-10's unlabelled
// split is "unlabelled" in TFDS and "unlabeled" in the binary version.
var tfdsSplitAliases = map[string]string{"unlabeled": "unlabelled", "unlabelled": "unlabeled"}

// ReadTFDS reads split of a data set prepared by TensorFlow Datasets (the
// folder tfds.load or download_and_prepare writes). dir is the versioned
// folder (e.g. ~/tensorflow_datasets/stl10/1.0.0), a data set folder whose
// highest version is used, or a name as tfds.load spells it ("stl10",
// "stl10:1.0.0", "name/config:version") resolved under $TFDS_DATA_DIR, else
// ~/tensorflow_datasets. split is one of the data set's splits, or several
// joined with "+" ("train+unlabelled"); "unlabeled" also finds
// "unlabelled" and the reverse.
//
// dataset_info.json gives the splits, their shard lengths and file name
// template ({name}-{split}.tfrecord-{i:05d}-of-{n:05d} by default);
// features.json gives the image feature's shape and the label feature's
// number of classes; {label}.labels.txt, when present, the class names.
// image and label name the features (TFDS's image data sets use "image" and
// "label"); a label feature the data set lacks, or a label of -1 (TFDS's
// unlabelled images), gives an unlabelled set. Images are decoded to
// channels channels (0 = the feature's); a fixed image shape is kept, and
// images of a variable-shape feature are resized and centre-cropped to size
// x size. Every shard must hold the number of records dataset_info.json
// says; the records' CRCs are checked.
func ReadTFDS(dir, split, image, label string, channels, size int) (*Images, error) {
	root, err := resolveTFDS(dir)
	if err != nil {
		return nil, err
	}
	var info tfdsInfo
	if err := readJSON(filepath.Join(root, tfdsInfoFile), &info); err != nil {
		return nil, err
	}
	if info.FileFormat != "" && info.FileFormat != "tfrecord" {
		return nil, formatErr(filepath.Join(root, tfdsInfoFile), -1, "file format %q, only tfrecord is supported (prepare the data set with file_format='tfrecord')", info.FileFormat)
	}
	if info.Name == "" {
		return nil, formatErr(filepath.Join(root, tfdsInfoFile), -1, "no data set name")
	}
	var feats tfdsFeatures
	featPath := filepath.Join(root, tfdsFeaturesFile)
	if err := readJSON(featPath, &feats); err != nil {
		return nil, err
	}
	spec := exampleSpec{image: image, label: label, c: channels}
	fs := feats.FeaturesDict.Features
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range fs {
			if !yield(n) {
				return
			}
		}
	})
	imgFeat, ok := fs[image]
	switch {
	case !ok:
		return nil, formatErr(featPath, -1, "no feature %q (the image feature, data.image_feature); the data set has %s", image, strings.Join(names, ", "))
	case imgFeat.Image == nil:
		return nil, formatErr(featPath, -1, "feature %q is a %s, not an image feature (tfds.features.Image)", image, imgFeat.PythonClassName)
	}
	if dims := imgFeat.Image.Shape.Dimensions; len(dims) == 3 {
		h, w, c := int(dims[0]), int(dims[1]), int(dims[2])
		if spec.c == 0 && (c == 1 || c == 3) {
			spec.c = c
		}
		if h > 0 && w > 0 {
			spec.h, spec.w, spec.shapeFrom = h, w, "the shape "+featPath+" gives"
		} else {
			spec.resize = size
		}
	} else {
		return nil, formatErr(featPath, -1, "image feature %q has shape %v, expected [height, width, channels]", image, dims)
	}
	if lf, ok := fs[label]; !ok || label == "" {
		spec.label = ""
	} else if lf.ClassLabel != nil {
		spec.numClasses = int(lf.ClassLabel.NumClasses)
		spec.classNames = readClassNames(filepath.Join(root, label+".labels.txt"), spec.numClasses)
	}

	var shards []exampleShard
	for _, part := range strings.Split(split, "+") {
		sh, err := tfdsShards(root, &info, part)
		if err != nil {
			return nil, err
		}
		shards = append(shards, sh...)
	}
	return readExamples(shards, spec, fmt.Sprintf("%s (TFDS %s %s, split %s)", root, info.Name, info.Version, split))
}

// tfdsShards lists the shard files of one split.
func tfdsShards(root string, info *tfdsInfo, split string) ([]exampleShard, error) {
	var names []string
	for i := range info.Splits {
		names = append(names, info.Splits[i].Name)
	}
	i := slices.Index(names, split)
	if i < 0 {
		i = slices.Index(names, tfdsSplitAliases[split])
	}
	if i < 0 {
		return nil, fmt.Errorf("data: %s: TFDS data set %s has no split %q (splits: %s)", root, info.Name, split, strings.Join(names, ", "))
	}
	sp := info.Splits[i]
	n := len(sp.ShardLengths)
	if n == 0 {
		return nil, formatErr(filepath.Join(root, tfdsInfoFile), -1, "split %q lists no shardLengths", sp.Name)
	}
	template := sp.FilepathTemplate
	if template == "" {
		template = tfdsDefaultTemplate
	}
	digits := max(len(strconv.Itoa(n)), 5)
	shards := make([]exampleShard, n)
	for k, l := range sp.ShardLengths {
		if l < 0 {
			return nil, formatErr(filepath.Join(root, tfdsInfoFile), -1, "split %q: shard %d has length %d", sp.Name, k, l)
		}
		idx, num := fmt.Sprintf("%0*d", digits, k), fmt.Sprintf("%0*d", digits, n)
		name := strings.NewReplacer(
			"{DATASET}", info.Name, "{SPLIT}", sp.Name, "{FILEFORMAT}", "tfrecord",
			"{SHARD_INDEX}", idx, "{NUM_SHARDS}", num, "{SHARD_X_OF_Y}", idx+"-of-"+num,
		).Replace(template)
		if strings.ContainsAny(name, "{}") || filepath.IsAbs(name) || slices.Contains(strings.Split(filepath.ToSlash(name), "/"), "..") {
			return nil, formatErr(filepath.Join(root, tfdsInfoFile), -1, "split %q: unsupported filepathTemplate %q", sp.Name, template)
		}
		shards[k] = exampleShard{path: filepath.Join(root, name), count: int(l)}
	}
	return shards, nil
}

// resolveTFDS finds the versioned folder of a TFDS data set (see ReadTFDS).
func resolveTFDS(dir string) (string, error) {
	if isFile(filepath.Join(dir, tfdsInfoFile)) {
		return dir, nil
	}
	if isDir(dir) {
		return highestVersion(dir)
	}
	if !format.IsTFDSName(dir) {
		return "", fmt.Errorf("data: tfds: %s is not a folder (expected a prepared TFDS folder holding %s, or a name such as stl10:1.0.0)", dir, tfdsInfoFile)
	}
	base := os.Getenv("TFDS_DATA_DIR")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("data: tfds: resolving %s: TFDS_DATA_DIR is not set and %w", dir, err)
		}
		base = filepath.Join(home, "tensorflow_datasets")
	}
	name, version, hasVersion := strings.Cut(dir, ":")
	p := filepath.Join(base, filepath.FromSlash(name))
	if hasVersion {
		p = filepath.Join(p, version)
		if !isFile(filepath.Join(p, tfdsInfoFile)) {
			return "", fmt.Errorf("data: tfds: %s: no %s in %s (TFDS_DATA_DIR or ~/tensorflow_datasets)", dir, tfdsInfoFile, p)
		}
		return p, nil
	}
	if !isDir(p) {
		return "", fmt.Errorf("data: tfds: %s: no folder %s (TFDS_DATA_DIR or ~/tensorflow_datasets); prepare it with tfds first", dir, p)
	}
	return highestVersion(p)
}

// highestVersion returns the sub-folder of dir with the highest version
// number (1.0.0 < 3.0.2 < 10.0.0) that holds dataset_info.json.
func highestVersion(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("data: tfds: %w", err)
	}
	best, bestV := "", []int(nil)
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok || !isFile(filepath.Join(dir, e.Name(), tfdsInfoFile)) {
			continue
		}
		if bestV == nil || slices.Compare(v, bestV) > 0 {
			best, bestV = e.Name(), v
		}
	}
	if best == "" {
		return "", fmt.Errorf("data: tfds: %s holds neither %s nor a version folder (such as 1.0.0/) with one", dir, tfdsInfoFile)
	}
	return filepath.Join(dir, best), nil
}

// parseVersion parses "1.2.3" into its numbers.
func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		v[i] = n
	}
	return v, true
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	b, err := readSmallFile(path, tfdsMaxJSON)
	if err != nil {
		return fmt.Errorf("data: tfds: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return formatErr(path, -1, "not valid TFDS metadata: %v", err)
	}
	return nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
