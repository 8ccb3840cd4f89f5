package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// filesPerRead bounds how many files are decoded at once by EmbedFiles, so
// that embedding a large folder needs memory for one group only.
const filesPerRead = 512

// imageExt reports whether the data package decodes files with this name.
func imageExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// maxFileBytes bounds one image file read by EmbedFiles and PredictFiles.
const maxFileBytes = 256 << 20

// checkImageFile checks that p names a regular .jpg, .jpeg or .png file.
func checkImageFile(p string) (os.FileInfo, error) {
	if !imageExt(p) {
		return nil, fmt.Errorf("serve: %s: not a .jpg, .jpeg or .png file", p)
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("serve: %s is not a regular file", p)
	}
	return st, nil
}

// ReadFiles decodes JPEG and PNG files, in the given order, with the data
// package's reader (data.ReadFiles, as training reads an image folder): the
// shorter side is resized on the host (with an antialiasing bilinear
// filter) to the model's image size (or WithImageSize) and the centre
// cropped. The result has the model's channel count: RGB, or grey
// (data.Luma, BT.601) for 1-channel models. This is not the serving path:
// EmbedFiles, PredictFiles and simsiam serve decode at the images' own size
// and let the model's graph resize them.
func (m *Model) ReadFiles(paths []string) (*data.Images, error) {
	size := m.decodeSize
	if size <= 0 {
		return nil, fmt.Errorf("serve: %s records no image size; load it with serve.WithImageSize to decode files", m.sm.Dir)
	}
	if len(paths) == 0 {
		c := m.Channels()
		if c <= 0 {
			c = 3
		}
		return &data.Images{N: 0, H: size, W: size, C: c, Pix: []byte{}}, nil
	}
	for _, p := range paths {
		if _, err := checkImageFile(p); err != nil {
			return nil, err
		}
	}
	imgs, err := data.ReadFiles(paths, size)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if m.Channels() == 1 {
		imgs = toGrey(imgs)
	}
	return imgs, nil
}

// toGrey converts RGB images to one channel with the one colour rule
// (data.Luma, BT.601).
func toGrey(s *data.Images) *data.Images {
	out := *s
	out.C = 1
	px := s.N * s.H * s.W
	out.Pix = make([]byte, px)
	for i := 0; i < px; i++ {
		out.Pix[i] = data.Luma(s.Pix[3*i], s.Pix[3*i+1], s.Pix[3*i+2])
	}
	return &out
}

// decodeFile decodes one image file at its own size with c channels, as
// the HTTP server decodes a {"b64"} image (data.DecodeFull), and checks its
// shape against the resize bound (checkShape).
func (m *Model) decodeFile(p string, c int) (pix []byte, h, w int, err error) {
	st, err := checkImageFile(p)
	if err != nil {
		return nil, 0, 0, err
	}
	if st.Size() > maxFileBytes {
		return nil, 0, 0, fmt.Errorf("serve: %s is %d bytes, more than the limit of %d for an image file", p, st.Size(), maxFileBytes)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("serve: %w", err)
	}
	if pix, h, w, err = data.DecodeFull(b, p, c, 0); err != nil {
		return nil, 0, 0, fmt.Errorf("serve: %w", err)
	}
	if err := checkShape(p, h, w, m.decodeSize); err != nil {
		return nil, 0, 0, fmt.Errorf("serve: %w", err)
	}
	return pix, h, w, nil
}

// runFiles decodes files one at a time (decodeFile) and runs signature s
// on runs of consecutive files of one size, at most the batch size at a
// time, so memory holds one batch; each gets the outputs of every batch in
// order.
func (m *Model) runFiles(s *imageSig, paths []string, each func([]*tfgraph.Tensor) error) error {
	c := s.channels
	if c != 1 {
		c = 3
	}
	var group []byte
	n, gh, gw := 0, 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		chunks, err := m.run(s, group, n, gh, gw, c)
		if err != nil {
			return err
		}
		for _, ch := range chunks {
			if err := each(ch); err != nil {
				return err
			}
		}
		group, n = nil, 0
		return nil
	}
	for _, p := range paths {
		pix, h, w, err := m.decodeFile(p, c)
		if err != nil {
			return err
		}
		if n > 0 && (h != gh || w != gw || n == m.batch) {
			if err := flush(); err != nil {
				return err
			}
		}
		gh, gw = h, w
		group = append(group, pix...)
		n++
	}
	return flush()
}

// EmbedFiles embeds JPEG and PNG files, one row per path in order. Each
// file is decoded at its own size with the model's channels (RGB, or grey
// by data.GreyWeights), exactly as simsiam serve decodes a {"b64"} image,
// and the model's graph resizes it; files are decoded one at a time and
// run in batches of consecutive files of one size, so memory stays bounded.
func (m *Model) EmbedFiles(paths []string) ([][]float32, error) {
	if m.embed == nil {
		return nil, fmt.Errorf("serve: cannot embed: %w", m.embedErr)
	}
	out := make([][]float32, 0, len(paths))
	err := m.runFiles(m.embed, paths, func(ch []*tfgraph.Tensor) error {
		rows, err := floatRows(ch[0], m.embed.outputs[0])
		out = append(out, rows...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PredictFiles classifies JPEG and PNG files (decoded as EmbedFiles
// decodes them) with the classify signature, one prediction per path.
func (m *Model) PredictFiles(paths []string) ([]Prediction, error) {
	if m.classify == nil {
		return nil, m.noClassifier()
	}
	out := make([]Prediction, 0, len(paths))
	err := m.runFiles(m.classify, paths, func(ch []*tfgraph.Tensor) error {
		p, err := m.predictions(ch)
		out = append(out, p...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListImages returns the .jpg, .jpeg and .png files below dir (any depth),
// in lexical order of their paths, skipping names that start with '.'
// (data.ListImages, the walk the folder reader makes).
func ListImages(dir string) ([]string, error) {
	paths, err := data.ListImages(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return paths, nil
}

// EmbedFolder embeds every image file below dir (see ListImages) and
// returns the paths with their embeddings, row i belonging to paths[i].
func (m *Model) EmbedFolder(dir string) (paths []string, embeddings [][]float32, err error) {
	paths, err = ListImages(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("serve: %s contains no .jpg, .jpeg or .png files", dir)
	}
	embeddings, err = m.EmbedFiles(paths)
	if err != nil {
		return nil, nil, err
	}
	return paths, embeddings, nil
}
