package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/simsiam-go/simsiam/data"
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

// ReadFiles decodes JPEG and PNG files, in the given order, with the data
// package's reader (data.ReadFiles): the shorter side is resized to the model's image
// size (or WithImageSize) and the centre cropped. The result has the
// model's channel count: RGB, or grey (data.Luma, BT.601) for 1-channel models.
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

// EmbedFiles embeds JPEG and PNG files (decoded as ReadFiles does), one row
// per path in order. Files are decoded in groups, so memory stays bounded.
func (m *Model) EmbedFiles(paths []string) ([][]float32, error) {
	out := make([][]float32, 0, len(paths))
	for lo := 0; lo < len(paths); lo += filesPerRead {
		imgs, err := m.ReadFiles(paths[lo:min(len(paths), lo+filesPerRead)])
		if err != nil {
			return nil, err
		}
		rows, err := m.EmbedImages(imgs)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
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
