package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// exampleShard is one TFRecord file of tf.train.Example records.
type exampleShard struct {
	path  string
	count int // records the file must hold, -1 = any
}

// exampleSpec says what to take from every tf.train.Example.
type exampleSpec struct {
	image, label string // feature names; label "" = no labels
	c            int    // output channels, 0 = the first image's
	h, w         int    // fixed geometry, 0 = the first image's
	resize       int    // > 0: every image is resized and centre-cropped to resize x resize
	numClasses   int    // > 0: labels must be below it
	classNames   []string
	shapeFrom    string // where h and w come from, for messages
	// budget bounds the bytes the decoders hold at once (readExamples
	// makes a DefaultDecodeBudget when nil).
	budget *DecodeBudget
}

// gcEvery is how many bytes of decoder garbage the parallel decoder lets
// accumulate before it runs the garbage collector, once the set is large.
// With a multi-gigabyte uint8 set live, Go's pacer would otherwise let
// about as much garbage pile up again before collecting (heap goal = twice
// the live heap), doubling the peak RSS. The set itself is one pointer-free
// allocation, so a collection costs about as much as for a small heap.
const (
	gcEvery    = 128 << 20
	gcMinBytes = 256 << 20
)

// readExamples reads the records of shards, in order, into one set:
// pass 1 walks the record headers (counts, truncation, length CRCs) before
// anything is allocated, pass 2 streams the records (data CRCs) to
// GOMAXPROCS decoders that write straight into the set's one uint8 buffer.
func readExamples(shards []exampleShard, spec exampleSpec, source string) (*Images, error) {
	total := 0
	for i := range shards {
		n, err := countTFRecords(shards[i].path)
		if err != nil {
			return nil, err
		}
		if shards[i].count >= 0 && n != shards[i].count {
			return nil, formatErr(shards[i].path, -1, "holds %d records, expected %d (shardLengths in dataset_info.json)", n, shards[i].count)
		}
		if total > math.MaxInt-n {
			return nil, fmt.Errorf("data: %s: too many records", source)
		}
		shards[i].count = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("data: %s: no records", source)
	}
	if spec.budget == nil {
		spec.budget = NewDecodeBudget(DefaultDecodeBudget)
	}
	spec, hasLabel, err := firstRecordGeometry(shards, spec)
	if err != nil {
		return nil, err
	}
	sz := spec.h * spec.w * spec.c
	if total > math.MaxInt/sz {
		return nil, fmt.Errorf("data: %s: %d images of %dx%dx%d do not fit in memory on this platform", source, total, spec.h, spec.w, spec.c)
	}
	s := &Images{N: total, H: spec.h, W: spec.w, C: spec.c, Pix: make([]byte, total*sz), Source: source}
	var labels []int32
	if hasLabel {
		labels = make([]int32, total)
	} else {
		spec.label = ""
	}
	unlabelled, err := decodeShards(shards, spec, s.Pix, labels)
	if err != nil {
		return nil, err
	}
	if labels != nil && !unlabelled {
		s.Labels = labels
		s.NumClasses = spec.numClasses
		if s.NumClasses == 0 {
			s.NumClasses = int(slices.Max(labels)) + 1
		}
		if len(spec.classNames) == s.NumClasses {
			s.ClassNames = spec.classNames
		}
	}
	return s, nil
}

// firstRecordGeometry fills in the geometry spec leaves open from the first
// record, and says whether the set has labels (spec.label is set and the
// first record has it).
func firstRecordGeometry(shards []exampleShard, spec exampleSpec) (exampleSpec, bool, error) {
	var first exampleShard
	for _, sh := range shards {
		if sh.count > 0 {
			first = sh
			break
		}
	}
	f, err := os.Open(first.path)
	if err != nil {
		return spec, false, err
	}
	defer f.Close()
	rec, off, err := NewTFRecordReader(f, first.path).Next()
	if err != nil {
		return spec, false, err
	}
	var img []byte
	hasLabel := false
	err = parseExample(rec, func(name string, ft Feature) {
		if name == spec.image {
			if ft.Kind == FeatureBytes && len(ft.Bytes) == 1 {
				img = ft.Bytes[0]
			}
		} else {
			hasLabel = true
		}
	}, spec.wants)
	if err != nil {
		return spec, false, recordErr(first.path, off, 0, "not a tf.train.Example: %v", err)
	}
	if img == nil { // the full check names the problem
		_, _, err := spec.decodeRecord(rec, make([]byte, 1), false)
		if err == nil {
			err = errors.New("no image")
		}
		return spec, false, recordErr(first.path, off, 0, "%v", err)
	}
	cfg, cost, err := DecodeCost(img)
	if err != nil {
		return spec, false, recordErr(first.path, off, 0, "feature %q is not a readable PNG or JPEG image: %v", spec.image, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxDecodedPixels {
		return spec, false, recordErr(first.path, off, 0, "image is %dx%d pixels, expected a positive size of at most %d pixels", cfg.Width, cfg.Height, maxDecodedPixels)
	}
	// Decode the first image whole before its header sizes the set: a
	// header alone (a few bytes) could claim gigabytes.
	err = decodeHeld(context.Background(), spec.budget, cost, func() error {
		if _, _, err := image.Decode(bytes.NewReader(img)); err != nil {
			return fmt.Errorf("feature %q is not a readable PNG or JPEG image: %v", spec.image, err)
		}
		return nil
	})
	if errors.Is(err, ErrOverBudget) {
		err = fmt.Errorf("image is %dx%d pixels: %w", cfg.Width, cfg.Height, err)
	}
	if err != nil {
		return spec, false, recordErr(first.path, off, 0, "%v", err)
	}
	if spec.c == 0 {
		spec.c = 3
		if isGreyModel(cfg.ColorModel) {
			spec.c = 1
		}
	}
	switch {
	case spec.resize > 0:
		spec.h, spec.w = spec.resize, spec.resize
	case spec.h == 0 || spec.w == 0:
		spec.h, spec.w = cfg.Height, cfg.Width
		spec.shapeFrom = fmt.Sprintf("the first image's (%s record 0)", first.path)
	}
	if spec.h <= 0 || spec.w <= 0 || int64(spec.h)*int64(spec.w) > maxDecodedPixels {
		return spec, false, recordErr(first.path, off, 0, "image is %dx%d pixels, expected a positive size of at most %d pixels", spec.w, spec.h, maxDecodedPixels)
	}
	return spec, hasLabel && spec.label != "", nil
}

// wants reports whether feature name is one spec reads.
func (spec *exampleSpec) wants(name string) bool {
	return name == spec.image || (spec.label != "" && name == spec.label)
}

// exampleJob is one record handed from the reader to a decoder.
type exampleJob struct {
	path  string
	off   int64
	local int // index in its file
	index int // index in the set
	buf   []byte
}

// decodeShards streams every record of shards to GOMAXPROCS decoders that
// write image i to pix[i*sz:] and its label to labels[i] (labels nil: no
// labels). It returns the error of the lowest-numbered failing record, and
// whether some label was -1 (unlabelled).
func decodeShards(shards []exampleShard, spec exampleSpec, pix []byte, labels []int32) (bool, error) {
	sz := spec.h * spec.w * spec.c
	total := len(pix) / sz
	workers := min(runtime.GOMAXPROCS(0), total)
	jobs := make(chan *exampleJob, 2*workers)
	free := make(chan *exampleJob, 3*workers)
	for range 3 * workers {
		free <- new(exampleJob)
	}
	var (
		mu         sync.Mutex
		firstErr   error
		firstAt    atomic.Int64 // index of the lowest failing record so far
		failed     atomic.Bool
		unlabelled atomic.Bool
		garbage    atomic.Int64
		wg         sync.WaitGroup
	)
	firstAt.Store(math.MaxInt64)
	fail := func(at int, err error) {
		mu.Lock()
		if int64(at) < firstAt.Load() {
			firstAt.Store(int64(at))
			firstErr = err
		}
		mu.Unlock()
		failed.Store(true)
	}
	collect := len(pix) >= gcMinBytes
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				// After a failure only records before it still matter: the
				// error reported is the first record's, whatever the timing.
				if int64(j.index) < firstAt.Load() {
					dst := pix[j.index*sz : (j.index+1)*sz]
					label, ok, err := spec.decodeRecord(j.buf, dst, labels != nil)
					switch {
					case err != nil:
						fail(j.index, recordErr(j.path, j.off, j.local, "%v", err))
					case ok:
						labels[j.index] = label
						if label < 0 {
							unlabelled.Store(true)
						}
					}
					if collect && garbage.Add(int64(len(j.buf))+int64(4*sz)) > gcEvery {
						garbage.Store(0)
						runtime.GC()
					}
				}
				free <- j
			}
		})
	}
	index := 0
	for _, sh := range shards {
		if failed.Load() {
			break
		}
		if err := streamShard(sh, index, jobs, free, &failed); err != nil {
			var re *RecordError
			at := index + sh.count
			if errors.As(err, &re) {
				at = index + re.Record
			}
			fail(at, err)
			break
		}
		index += sh.count
	}
	close(jobs)
	wg.Wait()
	return unlabelled.Load(), firstErr
}

// streamShard sends the sh.count records of sh, numbered from index on, to
// jobs; it stops early once failed is set.
func streamShard(sh exampleShard, index int, jobs chan<- *exampleJob, free <-chan *exampleJob, failed *atomic.Bool) error {
	f, err := os.Open(sh.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := NewTFRecordReader(f, sh.path)
	for k := 0; k < sh.count && !failed.Load(); k++ {
		rec, off, err := r.Next()
		if err == io.EOF {
			return recordErr(sh.path, off, k, "the file ends after %d records, expected %d", k, sh.count)
		}
		if err != nil {
			return err
		}
		j := <-free
		j.path, j.off, j.local, j.index = sh.path, off, k, index+k
		j.buf = append(j.buf[:0], rec...)
		jobs <- j
	}
	return nil
}

// decodeRecord parses one serialized tf.train.Example, decodes its image
// into dst (spec's geometry) and, with withLabel, returns its label.
func (spec *exampleSpec) decodeRecord(rec, dst []byte, withLabel bool) (int32, bool, error) {
	var img, lab Feature
	gotImg, gotLab := false, false
	err := parseExample(rec, func(name string, f Feature) {
		if name == spec.image {
			img, gotImg = f, true
		} else {
			lab, gotLab = f, true
		}
	}, spec.wants)
	if err != nil {
		return 0, false, fmt.Errorf("not a tf.train.Example: %v", err)
	}
	if !gotImg {
		return 0, false, fmt.Errorf("no feature %q (the image feature; this record has %s)", spec.image, featureNames(rec))
	}
	if img.Kind != FeatureBytes || len(img.Bytes) != 1 {
		return 0, false, fmt.Errorf("feature %q is %s, expected a bytes_list holding one encoded PNG or JPEG image", spec.image, describeFeature(img))
	}
	var label int32
	if withLabel {
		switch {
		case !gotLab:
			return 0, false, fmt.Errorf("no feature %q (the label feature, which the first record has; this record has %s)", spec.label, featureNames(rec))
		case lab.Kind != FeatureInt64 || len(lab.Int64s) != 1:
			return 0, false, fmt.Errorf("feature %q is %s, expected an int64_list holding one class label", spec.label, describeFeature(lab))
		}
		v := lab.Int64s[0]
		hi := int64(math.MaxInt32 - 1)
		if spec.numClasses > 0 {
			hi = int64(spec.numClasses) - 1
		}
		if v < -1 || v > hi {
			return 0, false, fmt.Errorf("label %d out of range, expected 0..%d (or -1 for an unlabelled image)", v, hi)
		}
		label = int32(v)
	}
	if err := spec.decodeImage(img.Bytes[0], dst); err != nil {
		return 0, false, err
	}
	return label, withLabel, nil
}

// decodeImage decodes one PNG or JPEG into dst with spec's geometry,
// holding its DecodeCost of spec.budget meanwhile; an image needing more
// than the whole budget is refused before it is decoded.
func (spec *exampleSpec) decodeImage(b, dst []byte) error {
	cfg, cost, err := DecodeCost(b)
	if err != nil {
		return fmt.Errorf("feature %q is not a readable PNG or JPEG image: %v", spec.image, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxDecodedPixels {
		return fmt.Errorf("image is %dx%d pixels, expected a positive size of at most %d pixels", cfg.Width, cfg.Height, maxDecodedPixels)
	}
	if spec.resize == 0 && (cfg.Width != spec.w || cfg.Height != spec.h) {
		return fmt.Errorf("image is %dx%d (width x height), expected %dx%d, %s size", cfg.Width, cfg.Height, spec.w, spec.h, spec.shapeFrom)
	}
	err = decodeHeld(context.Background(), spec.budget, cost, func() error {
		return spec.decodeInto(b, dst)
	})
	if errors.Is(err, ErrOverBudget) {
		return fmt.Errorf("image is %dx%d pixels: %w", cfg.Width, cfg.Height, err)
	}
	return err
}

// decodeInto decodes the PNG or JPEG b, whose header decodeImage checked,
// into dst.
func (spec *exampleSpec) decodeInto(b, dst []byte) error {
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("feature %q is not a readable PNG or JPEG image: %v", spec.image, err)
	}
	if spec.resize == 0 {
		if spec.c == 1 {
			greyInto(dst, img)
		} else {
			rgbInto(dst, img)
		}
		return nil
	}
	rgb, w, h := toRGB8(img)
	if spec.c == 3 {
		resizeShortCrop(dst, rgb, w, h, spec.resize)
		return nil
	}
	tmp := make([]byte, spec.resize*spec.resize*3)
	resizeShortCrop(tmp, rgb, w, h, spec.resize)
	for i := range spec.resize * spec.resize {
		dst[i] = luma(tmp[3*i], tmp[3*i+1], tmp[3*i+2])
	}
	return nil
}

// featureNames lists the feature names of a serialized Example, for
// messages.
func featureNames(rec []byte) string {
	var names []string
	_ = parseExample(rec, func(name string, f Feature) {
		names = append(names, fmt.Sprintf("%q (%s)", name, f.Kind))
	}, func(string) bool { return true })
	if len(names) == 0 {
		return "no features"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// describeFeature says what a feature holds, for messages.
func describeFeature(f Feature) string {
	switch f.Kind {
	case FeatureBytes:
		return fmt.Sprintf("a bytes_list of %d value(s)", len(f.Bytes))
	case FeatureFloat:
		return fmt.Sprintf("a float_list of %d value(s)", len(f.Floats))
	case FeatureInt64:
		return fmt.Sprintf("an int64_list of %d value(s)", len(f.Int64s))
	}
	return "empty (no list set)"
}

// isGreyModel reports whether images of colour model m decode to grey.
func isGreyModel(m color.Model) bool {
	return m == color.GrayModel || m == color.Gray16Model
}

// luma is the ITU-R BT.601 luma of an 8-bit RGB pixel (0.299 R + 0.587 G +
// 0.114 B, rounded), the weights of Go's color.GrayModel.
func luma(r, g, b byte) byte {
	return byte((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// greyInto writes any image as 8-bit grey to out (width*height bytes): grey
// images as they are, JPEGs (YCbCr) as their luma plane Y, everything else
// as the luma of its RGB.
func greyInto(out []byte, img image.Image) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			copy(out[y*w:(y+1)*w], m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):])
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			copy(out[y*w:(y+1)*w], m.Y[m.YOffset(r.Min.X, r.Min.Y+y):])
		}
	default:
		rgb := make([]byte, w*h*3)
		rgbInto(rgb, img)
		for i := range w * h {
			out[i] = luma(rgb[3*i], rgb[3*i+1], rgb[3*i+2])
		}
	}
}
