package data

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fuzz targets: every parser must return either a consistent *Images or an
// error, never panic, for arbitrary bytes. Each target goes through the
// file readers (bytes written to a temp file) and the in-memory core.

// scratch is a directory whose files are overwritten on every fuzz call.
// Creating and removing a t.TempDir per call costs more than the parsing
// itself, which made fuzzing (and minimising large STL-10 inputs) crawl.
type scratch struct {
	mu  sync.Mutex
	dir string
}

func newScratch(f *testing.F) *scratch { return &scratch{dir: f.TempDir()} }

// with writes name/contents pairs into the scratch directory and runs fn
// with the directory while holding the lock.
func (s *scratch) with(t *testing.T, fn func(dir string), files ...any) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(s.dir, files[i].(string)), files[i+1].([]byte), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fn(s.dir)
}

// checkResult validates a successful parse.
func checkResult(t *testing.T, s *Images, err error) {
	t.Helper()
	if err != nil {
		if s != nil {
			t.Fatalf("got both images and error %v", err)
		}
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		return
	}
	if s == nil {
		t.Fatal("nil images without error")
	}
	if verr := s.Validate(); verr != nil {
		t.Fatalf("inconsistent result: %v", verr)
	}
}

func FuzzReadIDX(f *testing.F) {
	imgs := encodeIDXImages(2, 3, 4)
	labs := encodeIDXLabels(1, 0)
	f.Add(imgs, labs)
	f.Add(gz(f, imgs), gz(f, labs))
	f.Add(imgs[:20], labs[:9])
	f.Add(append(idxHeader(idxMagicImages, 1<<20, 1<<10, 1<<10), 1, 2), labs)
	f.Add(gz(f, idxHeader(idxMagicImages, 1<<12, 1<<10, 1<<10)), []byte{})
	f.Add([]byte{0x1f, 0x8b}, []byte{0x1f, 0x8b, 8, 0})
	sc := newScratch(f)
	f.Fuzz(func(t *testing.T, img, lab []byte) {
		sc.with(t, func(dir string) {
			ip, lp := filepath.Join(dir, "i"), filepath.Join(dir, "l")
			s, err := ReadIDX(ip, lp)
			checkResult(t, s, err)
			if err != nil && !bytes.Contains([]byte(err.Error()), []byte(dir)) {
				t.Fatalf("error %q does not name the file", err)
			}
			s, err = ReadIDX(ip, "")
			checkResult(t, s, err)
			s2, err2 := DecodeIDX(bytes.NewReader(img), bytes.NewReader(lab), "i", "l")
			checkResult(t, s2, err2)
			// The file and reader paths agree on the pixels.
			if err == nil && s2 != nil && !bytes.Equal(s.Pix, s2.Pix) {
				t.Fatal("ReadIDX and DecodeIDX disagree")
			}
		}, "i", img, "l", lab)
	})
}

func FuzzReadCIFAR10Record(f *testing.F) {
	f.Add(encodeCIFAR([][]byte{{3}}, 0))
	f.Add(encodeCIFAR([][]byte{{9}, {0}}, 5))
	f.Add(encodeCIFAR([][]byte{{10}}, 0))
	f.Add([]byte{})
	f.Add(make([]byte, 3072))
	sc := newScratch(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s *Images
		var err error
		sc.with(t, func(dir string) {
			s, err = ReadCIFAR10(dir, false)
		}, "test_batch.bin", b)
		checkResult(t, s, err)
		s2, err2 := DecodeCIFAR10(b, "mem")
		checkResult(t, s2, err2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("ReadCIFAR10 error %v, DecodeCIFAR10 error %v", err, err2)
		}
		if err == nil && (!bytes.Equal(s.Pix, s2.Pix) || s.N != len(b)/3073) {
			t.Fatal("file and memory decoders disagree")
		}
	})
}

func FuzzReadCIFAR100(f *testing.F) {
	f.Add(encodeCIFAR([][]byte{{3, 33}}, 0), true)
	f.Add(encodeCIFAR([][]byte{{19, 99}, {20, 1}}, 0), false)
	f.Add([]byte{1, 2, 3}, true)
	sc := newScratch(f)
	f.Fuzz(func(t *testing.T, b []byte, fine bool) {
		var s *Images
		var err error
		sc.with(t, func(dir string) {
			s, err = ReadCIFAR100(dir, true, fine)
		}, "train.bin", b)
		checkResult(t, s, err)
		s2, err2 := DecodeCIFAR100(b, "mem", fine)
		checkResult(t, s2, err2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("ReadCIFAR100 error %v, DecodeCIFAR100 error %v", err, err2)
		}
	})
}

// FuzzReadSTL10 builds the image file from a small input so that the
// fuzzer can explore file lengths around multiples of 27648 bytes without
// mutating (and minimising) 27 KB inputs: train_X.bin is head followed by
// zeros up to images*27648+delta bytes (only the length and the label
// bytes are interpreted; pixel bytes are copied whatever they are). The
// label file is y verbatim, and y also serves as unlabeled_X.bin.
func FuzzReadSTL10(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint8(1), int16(0), []byte{4})
	f.Add(encodeSTL10(1, 0)[:300], uint8(2), int16(0), []byte{1, 11})
	f.Add([]byte{}, uint8(1), int16(-1), []byte{10})
	f.Add([]byte{9}, uint8(0), int16(5), []byte{})
	f.Add([]byte{9}, uint8(3), int16(0), []byte{1, 2, 3})
	sc := newScratch(f)
	f.Fuzz(func(t *testing.T, head []byte, images uint8, delta int16, y []byte) {
		n := max(int(images%8)*stl10ImageBytes+int(delta), 0)
		x := make([]byte, max(n, len(head)))
		copy(x, head)
		sc.with(t, func(dir string) {
			for _, split := range []string{"train", "train+unlabeled"} {
				s, err := ReadSTL10(dir, split)
				checkResult(t, s, err)
				if err == nil && s.N != len(x)/stl10ImageBytes+len(y)/stl10ImageBytes*boolInt(split != "train") {
					t.Fatalf("%s: %d images from %d+%d bytes", split, s.N, len(x), len(y))
				}
			}
		}, "train_X.bin", x, "train_y.bin", y, "unlabeled_X.bin", y)
		s, err := DecodeSTL10(x, y, "x", "y")
		checkResult(t, s, err)
		if err == nil && !bytes.Equal(imageAt(t, s, 0)[:1], x[:1]) {
			t.Fatal("pixel (0,0,R) is not the first file byte")
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(encodePNG(f, patternImage(5, 3, 1)), uint8(4))
	g := image.NewGray16(image.Rect(0, 0, 2, 7))
	g.SetGray16(1, 1, color.Gray16{Y: 999})
	f.Add(encodePNG(f, g), uint8(9))
	f.Add(encodeJPEG(f, solidImage(9, 4, color.NRGBA{1, 2, 3, 255})), uint8(2))
	pal := image.NewPaletted(image.Rect(0, 0, 3, 3), color.Palette{color.Black, color.White})
	f.Add(encodePNG(f, pal), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, size uint8) {
		sz := int(size%32) + 1
		dst := make([]byte, sz*sz*3)
		budget := NewDecodeBudget(1 << 24)
		err := decodeImage(context.Background(), b, "fuzz.img", sz, dst, budget)
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte("fuzz.img")) {
			t.Fatalf("error %q does not name the file", err)
		}
		if n := budget.InFlight(); n != 0 {
			t.Fatalf("%d bytes of the decode budget still held after decoding", n)
		}
	})
}

// FuzzTFRecord feeds arbitrary bytes to the TFRecord framing: as a stream
// (every record returned must be followed by valid framing, and every
// error is a *RecordError at an offset inside the input) and as a file
// through ReadTFRecord. Framing data itself must read back unchanged.
func FuzzTFRecord(f *testing.F) {
	png := encodePNG(f, patternImage(3, 2, 0))
	good := encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(2)})
	f.Add(tfrecordFile(good, good), []byte("x"))
	f.Add(tfrecordFile(good)[:20], []byte{})
	f.Add(tfrecordFile([]byte{}), []byte{0x0a, 0x00})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0}, good)
	sc := newScratch(f)
	f.Fuzz(func(t *testing.T, file, data []byte) {
		r := NewTFRecordReader(bytes.NewReader(file), "fuzz")
		var end int64
		for {
			rec, off, err := r.Next()
			if err == io.EOF {
				if end != int64(len(file)) {
					t.Fatalf("EOF at %d of %d bytes", end, len(file))
				}
				break
			}
			if err != nil {
				var re *RecordError
				if !errors.As(err, &re) || re.Offset != end || re.Offset > int64(len(file)) || re.File != "fuzz" {
					t.Fatalf("error %v (%T) at offset %d, records end at %d", err, err, re.Offset, end)
				}
				break
			}
			if off != end {
				t.Fatalf("record at %d, expected %d", off, end)
			}
			end = off + int64(16+len(rec))
		}
		// Round trip of the second input as one record.
		r = NewTFRecordReader(bytes.NewReader(AppendTFRecord(nil, data)), "rt")
		if rec, _, err := r.Next(); err != nil || !bytes.Equal(rec, data) {
			t.Fatalf("round trip: %v", err)
		}
		sc.with(t, func(dir string) {
			s, err := ReadTFRecord(filepath.Join(dir, "x.tfrecord"), "", "image", "label", 0)
			checkResult(t, s, err)
			if err != nil && !strings.Contains(err.Error(), "x.tfrecord") {
				t.Fatalf("error %q does not name the file", err)
			}
		}, "x.tfrecord", file)
	})
}

// FuzzParseExample parses arbitrary bytes as a tf.train.Example and as a
// record of a data set; features encoded by the test's own encoder must
// parse back to what was encoded.
func FuzzParseExample(f *testing.F) {
	png := encodePNG(f, patternImage(3, 2, 0))
	f.Add(encodeExample(map[string]exFeature{"image": bytesFeature(png), "label": int64Feature(2)}), "image", int64(7), float32(0.5))
	f.Add(encodeExample(map[string]exFeature{"image": int64Feature(1, 2)}), "label", int64(-1), float32(-1))
	f.Add([]byte{0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x00}, "", int64(0), float32(0))
	f.Fuzz(func(t *testing.T, b []byte, name string, v int64, x float32) {
		if _, err := ParseExample(b); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		spec := exampleSpec{image: "image", label: "label", c: 3, h: 2, w: 3, shapeFrom: "fuzz"}
		dst := make([]byte, 2*3*3)
		if _, _, err := spec.decodeRecord(b, dst, true); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		enc := encodeExample(map[string]exFeature{name: int64Feature(v, -v), name + "b": bytesFeature(b), name + "f": floatFeature(x)})
		got, err := ParseExample(enc)
		if err != nil {
			t.Fatalf("parsing an encoded Example: %v", err)
		}
		if i := got[name]; i.Kind != FeatureInt64 || len(i.Int64s) != 2 || i.Int64s[0] != v || i.Int64s[1] != -v {
			t.Fatalf("int64 feature %q = %+v, want [%d %d]", name, i, v, -v)
		}
		if bf := got[name+"b"]; bf.Kind != FeatureBytes || len(bf.Bytes) != 1 || !bytes.Equal(bf.Bytes[0], b) {
			t.Fatalf("bytes feature = %+v", bf)
		}
		if ff := got[name+"f"]; ff.Kind != FeatureFloat || len(ff.Floats) != 1 || math.Float32bits(ff.Floats[0]) != math.Float32bits(x) {
			t.Fatalf("float feature = %+v, want %v", ff, x)
		}
	})
}
