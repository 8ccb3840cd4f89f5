package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Test encoders for tf.train.Example, written from example.proto and
// feature.proto: Example{features=1: Features{feature=1: map entry{key=1,
// value=2: Feature{bytes_list=1 | float_list=2 | int64_list=3}}}}.

// exFeature is one feature to encode: exactly one of the lists is used,
// chosen by kind.
type exFeature struct {
	kind   FeatureKind
	bytes  [][]byte
	floats []float32
	ints   []int64
}

func bytesFeature(b ...[]byte) exFeature  { return exFeature{kind: FeatureBytes, bytes: b} }
func int64Feature(v ...int64) exFeature   { return exFeature{kind: FeatureInt64, ints: v} }
func floatFeature(v ...float32) exFeature { return exFeature{kind: FeatureFloat, floats: v} }

// encodeExample serializes features (sorted by name for determinism).
func encodeExample(features map[string]exFeature) []byte {
	names := make([]string, 0, len(features))
	for n := range features {
		names = append(names, n)
	}
	sortStrings(names)
	var fs []byte
	for _, name := range names {
		f := features[name]
		var list []byte
		switch f.kind {
		case FeatureBytes:
			for _, b := range f.bytes {
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, b)
			}
		case FeatureFloat:
			var packed []byte
			for _, v := range f.floats {
				packed = binary.LittleEndian.AppendUint32(packed, math.Float32bits(v))
			}
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		case FeatureInt64:
			var packed []byte
			for _, v := range f.ints {
				packed = protowire.AppendVarint(packed, uint64(v))
			}
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		}
		var feat []byte
		if f.kind != FeatureNone {
			feat = protowire.AppendTag(feat, protowire.Number(f.kind), protowire.BytesType)
			feat = protowire.AppendBytes(feat, list)
		}
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, name)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, feat)
		fs = protowire.AppendTag(fs, 1, protowire.BytesType)
		fs = protowire.AppendBytes(fs, entry)
	}
	var ex []byte
	ex = protowire.AppendTag(ex, 1, protowire.BytesType)
	return protowire.AppendBytes(ex, fs)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// patternExamples returns n records of pattern images (w x h RGB PNG,
// image index base+i) with label (base+i)%10.
func patternExamples(t testing.TB, n, base, w, h int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = encodeExample(map[string]exFeature{
			"image": bytesFeature(encodePNG(t, patternImage(w, h, base+i))),
			"label": int64Feature(int64((base + i) % 10)),
		})
	}
	return recs
}

// tfrecordFile frames records as a TFRecord file.
func tfrecordFile(recs ...[]byte) []byte {
	var b []byte
	for _, r := range recs {
		b = AppendTFRecord(b, r)
	}
	return b
}

func wantRecordErr(t *testing.T, err error, file string, offset int64, substrs ...string) {
	t.Helper()
	wantErr(t, err, substrs...)
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("error %q (%T) is not a *RecordError", err, err)
	}
	if re.File != file || re.Offset != offset {
		t.Errorf("error names %s at offset %d, want %s at offset %d", re.File, re.Offset, file, offset)
	}
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), fmt.Sprintf("byte offset %d", offset)) {
		t.Errorf("message %q does not name the file and offset", err)
	}
}

func TestMaskedCRC32C(t *testing.T) {
	// CRC-32C("123456789") = 0xe3069283 (the standard check value);
	// masked: ((c>>15)|(c<<17)) + 0xa282ead8 = 0xc78ab0e5.
	if got := MaskedCRC32C([]byte("123456789")); got != 0xc78ab0e5 {
		t.Fatalf("MaskedCRC32C = %#x, want 0xc78ab0e5", got)
	}
	// The framing of a 3-byte record, byte for byte.
	rec := AppendTFRecord(nil, []byte("abc"))
	if len(rec) != 12+3+4 || binary.LittleEndian.Uint64(rec) != 3 ||
		binary.LittleEndian.Uint32(rec[8:]) != MaskedCRC32C(rec[:8]) ||
		!bytes.Equal(rec[12:15], []byte("abc")) || binary.LittleEndian.Uint32(rec[15:]) != MaskedCRC32C([]byte("abc")) {
		t.Fatalf("AppendTFRecord framing wrong: % x", rec)
	}
}

func TestTFRecordReaderRoundTrip(t *testing.T) {
	data := [][]byte{[]byte("first"), {}, bytes.Repeat([]byte{7}, 3<<20)}
	r := NewTFRecordReader(bytes.NewReader(tfrecordFile(data...)), "mem")
	var off int64
	for i, want := range data {
		got, at, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if at != off || !bytes.Equal(got, want) {
			t.Fatalf("record %d at %d (%d bytes), want at %d (%d bytes)", i, at, len(got), off, len(want))
		}
		off += int64(16 + len(want))
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

func TestTFRecordCorruption(t *testing.T) {
	recs := patternExamples(t, 3, 0, 2, 2)
	good := tfrecordFile(recs...)
	second := int64(16 + len(recs[0])) // offset of record 1
	l1 := len(recs[1])
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	huge := bytes.Clone(good[:second])
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], 1<<40)
	binary.LittleEndian.PutUint32(hdr[8:], MaskedCRC32C(hdr[:8]))
	huge = append(huge, hdr[:]...)
	for _, tc := range []struct {
		name string
		file []byte
		want []string
	}{
		{"data byte flipped", flip(int(second) + 12 + 3), []string{"record 1", "data CRC mismatch"}},
		{"data CRC flipped", flip(int(second) + 12 + l1), []string{"data CRC mismatch"}},
		{"length flipped", flip(int(second) + 1), []string{"length CRC mismatch"}},
		{"length CRC flipped", flip(int(second) + 9), []string{"length CRC mismatch"}},
		{"truncated in header", good[:second+5], []string{"truncated", "5 bytes into the 12-byte record header"}},
		{"truncated in data", good[:second+12+4], []string{"truncated", fmt.Sprintf("%d data bytes", l1), "after 4 of them"}},
		{"truncated in data CRC", good[:second+12+int64(l1)+2], []string{"truncated", fmt.Sprintf("after %d of them", l1+2)}},
		{"oversized length", huge, []string{"record length 1099511627776 bytes exceeds the limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The streaming reader.
			r := NewTFRecordReader(bytes.NewReader(tc.file), "mem.tfrecord")
			if _, _, err := r.Next(); err != nil {
				t.Fatalf("record 0: %v", err)
			}
			_, _, err := r.Next()
			wantRecordErr(t, err, "mem.tfrecord", second, tc.want...)
			// The whole reader, from a file.
			dir := t.TempDir()
			path := filepath.Join(dir, "x.tfrecord")
			writeFile(t, path, tc.file)
			_, err = ReadTFRecord(dir, "", "image", "label", 0)
			wantRecordErr(t, err, path, second)
		})
	}
}

func TestParseExample(t *testing.T) {
	rec := encodeExample(map[string]exFeature{
		"image": bytesFeature([]byte("png"), []byte{}),
		"label": int64Feature(3, -1, math.MaxInt64),
		"score": floatFeature(0.5, -2),
		"empty": {},
	})
	// An unknown field at every level must be skipped.
	rec = protowire.AppendTag(rec, 9, protowire.VarintType)
	rec = protowire.AppendVarint(rec, 5)
	got, err := ParseExample(rec)
	if err != nil {
		t.Fatal(err)
	}
	if f := got["image"]; f.Kind != FeatureBytes || len(f.Bytes) != 2 || string(f.Bytes[0]) != "png" || len(f.Bytes[1]) != 0 {
		t.Errorf("image = %+v", f)
	}
	if f := got["label"]; f.Kind != FeatureInt64 || fmt.Sprint(f.Int64s) != fmt.Sprint([]int64{3, -1, math.MaxInt64}) {
		t.Errorf("label = %+v", f)
	}
	if f := got["score"]; f.Kind != FeatureFloat || fmt.Sprint(f.Floats) != "[0.5 -2]" {
		t.Errorf("score = %+v", f)
	}
	if f, ok := got["empty"]; !ok || f.Kind != FeatureNone {
		t.Errorf("empty = %+v, %v", f, ok)
	}
	// Unpacked int64 values (proto2 writers) decode too.
	var list, feat, entry, fs, ex []byte
	for _, v := range []uint64{4, 2} {
		list = protowire.AppendTag(list, 1, protowire.VarintType)
		list = protowire.AppendVarint(list, v)
	}
	feat = protowire.AppendBytes(protowire.AppendTag(feat, 3, protowire.BytesType), list)
	entry = protowire.AppendString(protowire.AppendTag(entry, 1, protowire.BytesType), "label")
	entry = protowire.AppendBytes(protowire.AppendTag(entry, 2, protowire.BytesType), feat)
	fs = protowire.AppendBytes(protowire.AppendTag(fs, 1, protowire.BytesType), entry)
	ex = protowire.AppendBytes(protowire.AppendTag(ex, 1, protowire.BytesType), fs)
	if got, err := ParseExample(ex); err != nil || fmt.Sprint(got["label"].Int64s) != "[4 2]" {
		t.Errorf("unpacked int64_list: %+v, %v", got["label"], err)
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 0x0a}, {0x0a}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := ParseExample(bad); err == nil {
			t.Errorf("ParseExample(% x) gave no error", bad)
		}
	}
}

func TestReadTFRecordPixelsAndLabels(t *testing.T) {
	dir := t.TempDir()
	// Two files, read in name order: b's records follow a's.
	writeFile(t, filepath.Join(dir, "a.tfrecord"), tfrecordFile(patternExamples(t, 3, 0, 5, 4)...))
	writeFile(t, filepath.Join(dir, "b.tfrecord-00000-of-00001"), tfrecordFile(patternExamples(t, 2, 3, 5, 4)...))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("ignored"))
	s, err := ReadTFRecord(dir, "", "image", "label", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 5 || s.H != 4 || s.W != 5 || s.C != 3 || s.NumClasses != 5 {
		t.Fatalf("got %v (%d classes), want 5 images 4x5x3", s, s.NumClasses)
	}
	checkPattern(t, s, 0, 5, 0)
	for i := range 5 {
		if l := label(t, s, i); l != i%10 {
			t.Errorf("label %d = %d, want %d", i, l, i)
		}
	}
	// A glob pattern and a single file select files.
	if s, err := ReadTFRecord(filepath.Join(dir, "b.*"), "ignored", "image", "label", 0); err != nil || s.N != 2 {
		t.Fatalf("glob: %v, %v", s, err)
	}
	if s, err := ReadTFRecord(filepath.Join(dir, "a.tfrecord"), "", "image", "label", 0); err != nil || s.N != 3 {
		t.Fatalf("one file: %v, %v", s, err)
	}
	// Decoded to one channel: the BT.601 luma of every pixel.
	g, err := ReadTFRecord(dir, "", "image", "label", 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.C != 1 || g.N != 5 {
		t.Fatalf("grey: %v", g)
	}
	for i := range 5 {
		im := imageAt(t, g, i)
		for y := range 4 {
			for x := range 5 {
				if want := luma(pat(i, y, x, 0), pat(i, y, x, 1), pat(i, y, x, 2)); im[y*5+x] != want {
					t.Fatalf("grey image %d pixel (%d,%d) = %d, want %d", i, y, x, im[y*5+x], want)
				}
			}
		}
	}
}

func TestReadTFRecordSplits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cifar10-train.tfrecord-00000-of-00002"), tfrecordFile(patternExamples(t, 2, 0, 3, 3)...))
	writeFile(t, filepath.Join(dir, "cifar10-train.tfrecord-00001-of-00002"), tfrecordFile(patternExamples(t, 1, 2, 3, 3)...))
	writeFile(t, filepath.Join(dir, "test.tfrecord"), tfrecordFile(patternExamples(t, 4, 0, 3, 3)...))
	writeFile(t, filepath.Join(dir, "contest.tfrecord"), tfrecordFile(patternExamples(t, 1, 0, 3, 3)...))
	writeFile(t, filepath.Join(dir, "val", "x.tfrecord"), tfrecordFile(patternExamples(t, 6, 0, 3, 3)...))
	for split, want := range map[string]int{"train": 3, "test": 4, "": 8, "val": 6} {
		s, err := ReadTFRecord(dir, split, "image", "label", 0)
		if err != nil || s.N != want {
			t.Errorf("split %q: %v, %v; want %d images", split, s, err, want)
		}
	}
	_, err := ReadTFRecord(dir, "unlabelled", "image", "label", 0)
	wantErr(t, err, `no file of split "unlabelled"`, "test.tfrecord")
	_, err = ReadTFRecord(filepath.Join(dir, "nothing*"), "", "image", "label", 0)
	wantErr(t, err, "no files match")
	_, err = ReadTFRecord(filepath.Join(dir, "missing"), "", "image", "label", 0)
	wantErr(t, err, "missing", "no such file")
}

func TestReadTFRecordBadExamples(t *testing.T) {
	png := encodePNG(t, patternImage(4, 4, 0))
	good := encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(1)})
	for _, tc := range []struct {
		name  string
		bad   []byte
		label string
		want  []string
	}{
		{"missing image", encodeExample(map[string]exFeature{"img": bytesFeature(png), "label": int64Feature(1)}), "label",
			[]string{`no feature "image"`, `"img" (bytes_list)`, `"label" (int64_list)`}},
		{"image is int64", encodeExample(map[string]exFeature{"image": int64Feature(5), "label": int64Feature(1)}), "label",
			[]string{`feature "image" is an int64_list of 1 value(s), expected a bytes_list`}},
		{"two images", encodeExample(map[string]exFeature{"image": bytesFeature(png, png), "label": int64Feature(1)}), "label",
			[]string{"a bytes_list of 2 value(s)"}},
		{"image not PNG", encodeExample(map[string]exFeature{"image": bytesFeature([]byte("GIF89a....")), "label": int64Feature(1)}), "label",
			[]string{"not a readable PNG or JPEG"}},
		{"other size", encodeExample(map[string]exFeature{"image": bytesFeature(encodePNG(t, patternImage(4, 5, 0))), "label": int64Feature(1)}), "label",
			[]string{"image is 4x5 (width x height), expected 4x4, the first image's"}},
		{"missing label", encodeExample(map[string]exFeature{"image": bytesFeature(png)}), "label",
			[]string{`no feature "label" (the label feature, which the first record has`}},
		{"label is float", encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": floatFeature(1)}), "label",
			[]string{`feature "label" is a float_list of 1 value(s), expected an int64_list`}},
		{"label is bytes", encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": bytesFeature([]byte("cat"))}), "label",
			[]string{`expected an int64_list`}},
		{"label out of range", encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(-7)}), "label",
			[]string{"label -7 out of range"}},
		{"label feature renamed", good, "class", nil}, // the first record has no "class": unlabelled, no error
		{"not an Example", []byte{0x0a, 0x09, 1}, "label", []string{"not a tf.train.Example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.tfrecord")
			writeFile(t, path, tfrecordFile(good, good, tc.bad))
			s, err := ReadTFRecord(dir, "", "image", tc.label, 0)
			if tc.want == nil {
				if err != nil || s.Labels != nil || s.N != 3 {
					t.Fatalf("got %v, %v; want 3 unlabelled images", s, err)
				}
				return
			}
			wantRecordErr(t, err, path, 2*int64(16+len(good)), tc.want...)
			wantErr(t, err, "record 2 ")
		})
	}
	// The first record decides what the set has: its errors are reported too.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.tfrecord"), tfrecordFile(encodeExample(map[string]exFeature{"picture": bytesFeature(png)})))
	_, err := ReadTFRecord(dir, "", "image", "label", 0)
	wantErr(t, err, `no feature "image"`, `"picture"`, "byte offset 0")
	// The image feature name is configurable.
	if s, err := ReadTFRecord(dir, "", "picture", "label", 0); err != nil || s.N != 1 || s.Labels != nil {
		t.Fatalf("image feature picture: %v, %v", s, err)
	}
}

func TestReadTFRecordGreyAndJPEG(t *testing.T) {
	dir := t.TempDir()
	grey := image.NewGray(image.Rect(0, 0, 3, 2))
	for i := range grey.Pix {
		grey.Pix[i] = byte(40 * i)
	}
	writeFile(t, filepath.Join(dir, "g.tfrecord"), tfrecordFile(encodeExample(map[string]exFeature{"image": bytesFeature(encodePNG(t, grey))})))
	s, err := ReadTFRecord(dir, "", "image", "label", 0)
	if err != nil || s.C != 1 || !bytes.Equal(s.Pix, grey.Pix) || s.Labels != nil {
		t.Fatalf("grey PNG kept at 1 channel: %v %v, %v", s, s.Pix, err)
	}
	s, err = ReadTFRecord(dir, "", "image", "label", 3)
	if err != nil || s.C != 3 || s.Pix[3*5] != 200 || s.Pix[3*5+1] != 200 || s.Pix[3*5+2] != 200 {
		t.Fatalf("grey PNG to 3 channels: %v %v, %v", s, s.Pix, err)
	}
	// A JPEG decodes like Go's image/jpeg (a flat colour survives to within
	// a few levels).
	jdir := t.TempDir()
	writeFile(t, filepath.Join(jdir, "j.tfrecord"), tfrecordFile(encodeExample(map[string]exFeature{
		"image": bytesFeature(encodeJPEG(t, solidImage(16, 8, color.NRGBA{200, 40, 90, 255}))), "label": int64Feature(2),
	})))
	s, err = ReadTFRecord(jdir, "", "image", "label", 0)
	if err != nil || s.H != 8 || s.W != 16 || s.C != 3 || s.NumClasses != 3 {
		t.Fatalf("JPEG: %v, %v", s, err)
	}
	for i, want := range []int{200, 40, 90} {
		if d := int(s.Pix[i]) - want; d < -4 || d > 4 {
			t.Errorf("JPEG channel %d = %d, want about %d", i, s.Pix[i], want)
		}
	}
}

func TestReadTFRecordUnlabelledMark(t *testing.T) {
	dir := t.TempDir()
	png := encodePNG(t, patternImage(2, 2, 0))
	writeFile(t, filepath.Join(dir, "x.tfrecord"), tfrecordFile(
		encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(4)}),
		encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(-1)}),
	))
	s, err := ReadTFRecord(dir, "", "image", "label", 0)
	if err != nil || s.Labels != nil || s.NumClasses != 0 || s.N != 2 {
		t.Fatalf("a -1 label: %v (labels %v), %v; want an unlabelled set", s, s.Labels, err)
	}
}

func TestReadTFRecordGzip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.tfrecord.gz")
	writeFile(t, path, gz(t, tfrecordFile(patternExamples(t, 2, 0, 3, 3)...)))
	_, err := ReadTFRecord(dir, "", "image", "label", 0)
	wantRecordErr(t, err, path, 0, "gzip-compressed", "gunzip -c")
}

func TestReadTFRecordEmpty(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.tfrecord"), nil)
	_, err := ReadTFRecord(dir, "", "image", "label", 0)
	wantErr(t, err, "no records")
	if err := os.WriteFile(filepath.Join(dir, "x.tfrecord"), tfrecordFile([]byte{}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTFRecord(dir, "", "image", "label", 0)
	wantErr(t, err, `no feature "image"`, "no features")
}
