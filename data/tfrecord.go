package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// TFRecord framing: every record is
//
//	uint64 length (little endian)
//	uint32 masked CRC-32C of the 8 length bytes
//	length bytes of data
//	uint32 masked CRC-32C of the data
//
// where masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
const (
	tfrecordHeader = 12
	tfrecordFooter = 4
	tfrecordMaskK  = 0xa282ead8
	// maxRecordBytes bounds one record's data, so that a corrupt length
	// cannot make a reader allocate gigabytes.
	maxRecordBytes = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC32C returns the masked CRC-32C (Castagnoli) checksum of b, the
// checksum TFRecord files store after the length and after the data of every
// record.
func MaskedCRC32C(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + tfrecordMaskK
}

// AppendTFRecord appends data framed as one TFRecord record to dst and
// returns the extended slice.
func AppendTFRecord(dst, data []byte) []byte {
	var hdr [tfrecordHeader]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], MaskedCRC32C(hdr[:8]))
	dst = append(dst, hdr[:]...)
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, MaskedCRC32C(data))
}

// checkRecordHeader validates the 12 header bytes of the record at off and
// returns its data length.
func checkRecordHeader(hdr []byte, name string, off int64, rec int) (int, error) {
	n := binary.LittleEndian.Uint64(hdr[:8])
	if got, want := binary.LittleEndian.Uint32(hdr[8:12]), MaskedCRC32C(hdr[:8]); got != want {
		return 0, recordErr(name, off, rec, "length CRC mismatch (stored 0x%08x, computed 0x%08x): the record header is corrupt", got, want)
	}
	if n > maxRecordBytes {
		return 0, recordErr(name, off, rec, "record length %d bytes exceeds the limit of %d", n, maxRecordBytes)
	}
	return int(n), nil
}

// TFRecordReader reads the records of one TFRecord stream in order and
// checks both CRCs of every record.
type TFRecordReader struct {
	r    *bufio.Reader
	name string
	off  int64 // offset of the next record
	rec  int   // index of the next record
	buf  []byte
}

// NewTFRecordReader returns a reader of the TFRecord stream r; name (the
// file's path) is used in errors.
func NewTFRecordReader(r io.Reader, name string) *TFRecordReader {
	return &TFRecordReader{r: bufio.NewReaderSize(r, 1<<20), name: name}
}

// Next returns the data of the next record and the byte offset at which the
// record starts. The data is valid until the following call. At the end of
// a well-formed stream it returns io.EOF; a truncated record, a CRC
// mismatch or an oversized length is a *RecordError naming the file, the
// record's offset and its index.
func (t *TFRecordReader) Next() ([]byte, int64, error) {
	off := t.off
	var hdr [tfrecordHeader]byte
	got, err := io.ReadFull(t.r, hdr[:])
	if err != nil {
		if errors.Is(err, io.EOF) && got == 0 {
			return nil, off, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, off, recordErr(t.name, off, t.rec, "truncated: the file ends %d bytes into the 12-byte record header", got)
		}
		return nil, off, ioErr(t.name, err)
	}
	n, err := checkRecordHeader(hdr[:], t.name, off, t.rec)
	if err != nil {
		return nil, off, err
	}
	b, got, err := readGrowing(t.r, t.buf[:0], n+tfrecordFooter)
	t.buf = b[:0]
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, off, recordErr(t.name, off, t.rec, "truncated: the record holds %d data bytes and a 4-byte CRC, the file ends after %d of them", n, got)
		}
		return nil, off, ioErr(t.name, err)
	}
	b = b[:n+tfrecordFooter]
	data := b[:n]
	if stored, want := binary.LittleEndian.Uint32(b[n:]), MaskedCRC32C(data); stored != want {
		return nil, off, recordErr(t.name, off, t.rec, "data CRC mismatch (stored 0x%08x, computed 0x%08x): the record's %d data bytes are corrupt", stored, want, n)
	}
	t.off += int64(tfrecordHeader + n + tfrecordFooter)
	t.rec++
	return data, off, nil
}

// readGrowing reads need bytes from r into buf (reusing its capacity). A
// buffer larger than buf's is grown as the data arrives, at most doubling,
// so that a corrupt length in a short stream costs no large allocation. It
// returns the buffer and how many bytes were read.
func readGrowing(r io.Reader, buf []byte, need int) ([]byte, int, error) {
	if cap(buf) >= need {
		got, err := io.ReadFull(r, buf[:need])
		return buf[:need], got, err
	}
	buf = buf[:0]
	for len(buf) < need {
		step := min(need-len(buf), max(len(buf), 1<<20))
		if cap(buf)-len(buf) < step {
			buf = slices.Grow(buf, step)
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+got]
		if err != nil {
			return buf, len(buf), err
		}
	}
	return buf, len(buf), nil
}

// countTFRecords walks the record headers of the file at path (checking
// every length CRC, reading no data) and returns the number of records. A
// file that ends inside a record is an error naming the record's offset.
func countTFRecords(path string) (int, error) {
	f, size, err := openSized(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var hdr [tfrecordHeader]byte
	n := 0
	for off := int64(0); off < size; n++ {
		if size-off < tfrecordHeader {
			return 0, recordErr(path, off, n, "truncated: the file ends %d bytes into the 12-byte record header", size-off)
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return 0, ioErr(path, err)
		}
		l, err := checkRecordHeader(hdr[:], path, off, n)
		if err != nil {
			if off == 0 && hdr[0] == 0x1f && hdr[1] == 0x8b && hdr[2] == 8 {
				return 0, recordErr(path, 0, 0, "the file is gzip-compressed (a TFRecord written with compression GZIP); decompress it first, e.g. gunzip -c %s > %s", path, strings.TrimSuffix(path, ".gz"))
			}
			return 0, err
		}
		if rest := size - off - tfrecordHeader; rest < int64(l)+tfrecordFooter {
			return 0, recordErr(path, off, n, "truncated: the record holds %d data bytes and a 4-byte CRC, the file ends after %d of them", l, rest)
		}
		off += int64(tfrecordHeader + l + tfrecordFooter)
	}
	return n, nil
}

// FeatureKind is the type of one feature of a tf.train.Example.
type FeatureKind int

// The kinds of a tf.train.Feature (its oneof kind).
const (
	FeatureNone  FeatureKind = iota // no list set
	FeatureBytes                    // bytes_list
	FeatureFloat                    // float_list
	FeatureInt64                    // int64_list
)

// String returns the proto field name of the kind.
func (k FeatureKind) String() string {
	switch k {
	case FeatureBytes:
		return "bytes_list"
	case FeatureFloat:
		return "float_list"
	case FeatureInt64:
		return "int64_list"
	}
	return "no value"
}

// Feature is one feature of a tf.train.Example: the list its kind selects.
// Bytes values alias the buffer the Example was parsed from.
type Feature struct {
	Kind   FeatureKind
	Bytes  [][]byte
	Floats []float32
	Int64s []int64
}

// Example field numbers (tensorflow/core/example/example.proto and
// feature.proto).
const (
	exampleFeatures   = 1 // Example.features
	featuresFeature   = 1 // Features.feature (map<string, Feature>)
	mapKey, mapValue  = 1, 2
	featureBytesList  = 1
	featureFloatList  = 2
	featureInt64List  = 3
	listValue         = 1 // BytesList/FloatList/Int64List.value
	maxExampleFeature = 1 << 16
)

// ParseExample parses a serialized tf.train.Example and returns its
// features by name. Repeated messages merge as protobuf defines it (a later
// map entry for the same name replaces the earlier one); unknown fields are
// skipped. Malformed wire data is an error.
func ParseExample(b []byte) (map[string]Feature, error) {
	out := map[string]Feature{}
	err := parseExample(b, func(name string, f Feature) { out[name] = f }, nil)
	return out, err
}

// parseExample calls keep for every feature whose name want accepts (all
// when want is nil); the other features' values are not decoded.
func parseExample(b []byte, keep func(string, Feature), want func(string) bool) error {
	entries := 0
	return walkFields(b, "Example", func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != exampleFeatures || typ != protowire.BytesType {
			return nil
		}
		return walkFields(v, "Features", func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num != featuresFeature || typ != protowire.BytesType {
				return nil
			}
			if entries++; entries > maxExampleFeature {
				return fmt.Errorf("more than %d features", maxExampleFeature)
			}
			var key string
			var val []byte
			hasVal := false
			err := walkFields(v, "feature map entry", func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == mapKey && typ == protowire.BytesType:
					key = string(v)
				case num == mapValue && typ == protowire.BytesType:
					if hasVal { // repeated messages merge
						val = append(slices.Clip(val), v...)
					} else {
						val, hasVal = v, true
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if want != nil && !want(key) {
				return nil
			}
			var f Feature
			if hasVal {
				if f, err = parseFeature(val); err != nil {
					return fmt.Errorf("feature %q: %w", key, err)
				}
			}
			keep(key, f)
			return nil
		})
	})
}

// parseFeature parses a tf.train.Feature.
func parseFeature(b []byte) (Feature, error) {
	var f Feature
	err := walkFields(b, "Feature", func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType || num < featureBytesList || num > featureInt64List {
			return nil
		}
		kind := FeatureKind(num)
		if kind != f.Kind { // a different member of the oneof replaces the value
			f = Feature{Kind: kind}
		}
		return walkFields(v, kind.String(), func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num != listValue {
				return nil
			}
			switch kind {
			case FeatureBytes:
				if typ == protowire.BytesType {
					f.Bytes = append(f.Bytes, v)
				}
			case FeatureFloat:
				return appendFloats(&f.Floats, typ, v)
			case FeatureInt64:
				return appendInt64s(&f.Int64s, typ, v)
			}
			return nil
		})
	})
	return f, err
}

// appendFloats appends a packed or unpacked float value field.
func appendFloats(dst *[]float32, typ protowire.Type, v []byte) error {
	switch typ {
	case protowire.Fixed32Type:
		*dst = append(*dst, math.Float32frombits(binary.LittleEndian.Uint32(v)))
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return fmt.Errorf("packed float_list of %d bytes, expected a multiple of 4", len(v))
		}
		for i := 0; i < len(v); i += 4 {
			*dst = append(*dst, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
		}
	}
	return nil
}

// appendInt64s appends a packed or unpacked int64 value field.
func appendInt64s(dst *[]int64, typ protowire.Type, v []byte) error {
	switch typ {
	case protowire.VarintType:
		x, _ := protowire.ConsumeVarint(v)
		*dst = append(*dst, int64(x))
	case protowire.BytesType:
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return fmt.Errorf("packed int64_list: %w", protowire.ParseError(n))
			}
			*dst = append(*dst, int64(x))
			v = v[n:]
		}
	}
	return nil
}

// walkFields calls fn for every field of the message b with its number,
// wire type and raw value: the payload for length-delimited fields, the
// encoded bytes for the others (varints are re-encoded so fn can decode
// them). what names the message in errors.
func walkFields(b []byte, what string, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed %s: %w", what, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			if n >= 0 {
				v = protowire.AppendVarint(nil, x)
			}
		case protowire.Fixed32Type:
			_, n = protowire.ConsumeFixed32(b)
			if n >= 0 {
				v = b[:n]
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("malformed %s: field %d: %w", what, num, protowire.ParseError(n))
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// tfrecordGlob is the file pattern of a folder of TFRecord files.
const tfrecordGlob = "*.tfrecord*"

// tfrecordFiles resolves dir and split for data.format tfrecord, sorted by
// name: a file or a glob pattern is the set whatever the split; in a
// folder, split "" is every *.tfrecord* file, and another split is the
// sub-folder of that name when there is one, else the folder's
// *.tfrecord* files that have the split as a word of their name ("train"
// matches train.tfrecord, cifar10-train.tfrecord-00000-of-00001 and
// train_0.tfrecord).
func tfrecordFiles(dir, split string) ([]string, error) {
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return []string{dir}, nil
	case err != nil && !strings.ContainsAny(dir, "*?["):
		return nil, fmt.Errorf("data: tfrecord: %w", err)
	case err != nil: // a pattern
		return globFiles(dir)
	}
	if split != "" {
		if sub := filepath.Join(dir, split); isDir(sub) {
			return globFiles(filepath.Join(sub, tfrecordGlob))
		}
	}
	files, err := globFiles(filepath.Join(dir, tfrecordGlob))
	if err != nil || split == "" {
		return files, err
	}
	var picked []string
	for _, f := range files {
		words := strings.FieldsFunc(filepath.Base(f), func(r rune) bool { return r == '-' || r == '_' || r == '.' })
		if slices.Contains(words, split) {
			picked = append(picked, f)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("data: tfrecord: no sub-folder %s and no file of split %q among %s (set the split to \"\" to read them all)", filepath.Join(dir, split), split, strings.Join(files, ", "))
	}
	return picked, nil
}

// globFiles returns the regular files matching pattern, sorted.
func globFiles(pattern string) ([]string, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("data: tfrecord: bad pattern %q: %w", pattern, err)
	}
	files = slices.DeleteFunc(files, func(p string) bool { return !isFile(p) })
	if len(files) == 0 {
		return nil, fmt.Errorf("data: tfrecord: no files match %s", pattern)
	}
	slices.Sort(files)
	return files, nil
}

// ReadTFRecord reads TFRecord files of tf.train.Example records into one
// set, in file order (sorted by name) and record order. dir is a folder, a
// glob pattern or a single file; in a folder, split picks the files (see
// tfrecordFiles: a sub-folder named split, else the files with split as a
// word of their name, and "" all *.tfrecord* files). Every record
// must hold the bytes_list feature image (one PNG or JPEG) and, when label
// is not empty, the int64_list feature label (one value); a label feature
// absent from the first record makes the set unlabelled, and so does a
// label of -1 (TFDS's mark for an unlabelled image) in any record. Images
// are decoded to channels channels (1 = grey, 3 = RGB; 0 keeps the first
// image's: 1 for grey PNGs or JPEGs, 3 otherwise); every image must have the
// first one's size. NumClasses is the largest label + 1.
func ReadTFRecord(dir, split, image, label string, channels int) (*Images, error) {
	files, err := tfrecordFiles(dir, split)
	if err != nil {
		return nil, err
	}
	shards := make([]exampleShard, len(files))
	for i, f := range files {
		shards[i] = exampleShard{path: f, count: -1}
	}
	source := dir
	if len(files) == 1 {
		source = files[0]
	} else if split != "" {
		source = fmt.Sprintf("%s (split %s, %d files)", dir, split, len(files))
	}
	return readExamples(shards, exampleSpec{image: image, label: label, c: channels}, source)
}
