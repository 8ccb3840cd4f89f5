package eval

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"google.golang.org/protobuf/encoding/protowire"
)

// example serializes a tf.train.Example with a bytes_list feature imgKey
// (one PNG of a w x h RGB image of colour v) and an int64_list feature
// labelKey (one value).
func example(t *testing.T, imgKey, labelKey string, w, h int, v byte, label int64) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = v, v/2, 255-v, 255
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, m); err != nil {
		t.Fatal(err)
	}
	entry := func(key string, kind protowire.Number, list []byte) []byte {
		feat := protowire.AppendBytes(protowire.AppendTag(nil, kind, protowire.BytesType), list)
		e := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), key)
		e = protowire.AppendBytes(protowire.AppendTag(e, 2, protowire.BytesType), feat)
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), e)
	}
	imgList := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), pngBuf.Bytes())
	labList := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendVarint(nil, uint64(label)))
	fs := append(entry(imgKey, 1, imgList), entry(labelKey, 3, labList)...)
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), fs)
}

// TestOpenEvalDataTFRecord reads the kNN / linear-evaluation splits from
// TFRecord files through the eval section's keys: eval.format, eval.dir,
// the splits as file name words, eval.image_feature and eval.label_feature,
// decoded to data.channels.
func TestOpenEvalDataTFRecord(t *testing.T) {
	dir := t.TempDir()
	for split, n := range map[string]int{"train": 6, "test": 4} {
		var f []byte
		for i := range n {
			f = data.AppendTFRecord(f, example(t, "jpeg", "cls", 5, 3, byte(40*i), int64(i%3)))
		}
		if err := os.WriteFile(filepath.Join(dir, "shapes-"+split+".tfrecord-00000-of-00001"), f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := configs.Default()
	cfg.Eval.Format, cfg.Eval.Dir = "tfrecord", dir
	cfg.Eval.ImageFeature, cfg.Eval.LabelFeature = "jpeg", "cls"
	cfg.Data.Channels = 1
	train, test, err := OpenEvalData(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s *data.Images
		n int
	}{{train, 6}, {test, 4}} {
		if tc.s.N != tc.n || tc.s.H != 3 || tc.s.W != 5 || tc.s.C != 1 || tc.s.NumClasses != 3 {
			t.Fatalf("%v (%d classes), want %d images 3x5x1 of 3 classes", tc.s, tc.s.NumClasses, tc.n)
		}
		for i := range tc.n {
			v := byte(40 * i)
			if want := color.GrayModel.Convert(color.NRGBA{v, v / 2, 255 - v, 255}).(color.Gray).Y; tc.s.Pix[i*15] != want || tc.s.Labels[i] != int32(i%3) {
				t.Errorf("image %d: grey %d label %d, want %d and %d", i, tc.s.Pix[i*15], tc.s.Labels[i], want, i%3)
			}
		}
	}
	// The data section's feature names do not apply to the eval set.
	cfg.Eval.ImageFeature = "image"
	if _, _, err := OpenEvalData(&cfg); err == nil {
		t.Fatal("eval.image_feature image: no error, but the records have no feature image")
	}
}
