// Command readdata reads one split with data.OpenWith, as simsiam train
// and the evaluations do, and writes the pixels (-out/pixels.u8, NHWC
// bytes), the labels (-out/labels.i32, little-endian int32, absent for an
// unlabelled set) and a JSON summary (-out/meta.json), so that
// tests/python/test_tfds.py can compare them with what TensorFlow and
// tensorflow-datasets read from the same files.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/simsiam-go/simsiam/data"
)

type meta struct {
	N, H, W, C int
	NumClasses int      `json:"num_classes"`
	ClassNames []string `json:"class_names"`
	Labelled   bool     `json:"labelled"`
	Source     string   `json:"source"`
}

func main() {
	format := flag.String("format", "tfds", "data format")
	dir := flag.String("dir", "", "data.dir")
	split := flag.String("split", "train", "split")
	channels := flag.Int("channels", 0, "channels to decode to (0 = the images')")
	size := flag.Int("size", 32, "size for resized images")
	image := flag.String("image", "", "image feature name")
	label := flag.String("label", "", "label feature name")
	out := flag.String("out", "", "output folder")
	flag.Parse()
	if err := run(*format, *dir, *split, *out, data.Options{Size: *size, Channels: *channels, ImageFeature: *image, LabelFeature: *label}); err != nil {
		fmt.Fprintln(os.Stderr, "readdata:", err)
		os.Exit(1)
	}
}

func run(format, dir, split, out string, opt data.Options) error {
	s, err := data.OpenWith(format, dir, split, opt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "pixels.u8"), s.Pix, 0o644); err != nil {
		return err
	}
	if s.Labels != nil {
		b := make([]byte, 0, 4*len(s.Labels))
		for _, l := range s.Labels {
			b = binary.LittleEndian.AppendUint32(b, uint32(l))
		}
		if err := os.WriteFile(filepath.Join(out, "labels.i32"), b, 0o644); err != nil {
			return err
		}
	}
	m, err := json.Marshal(meta{N: s.N, H: s.H, W: s.W, C: s.C, NumClasses: s.NumClasses, ClassNames: s.ClassNames, Labelled: s.Labels != nil, Source: s.Source})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "meta.json"), m, 0o644)
}
