package data

import (
	"bytes"
	"fmt"
	"image"
)

// DecodeImage decodes one JPEG or PNG image held in memory exactly as
// ReadFiles decodes a file: converted to 8-bit RGB, the shorter side
// resampled to size with the bilinear filter and the centre cropped. It
// returns size*size*3 bytes (HWC). name is used in messages; an image of
// more than maxPixels pixels (width x height, read from its header before
// decoding; 0 means the folder reader's limit of 2^27) is refused before it
// is decoded.
func DecodeImage(b []byte, name string, size int, maxPixels int64) ([]byte, error) {
	if size <= 0 || size > maxFolderSize {
		return nil, fmt.Errorf("data: %s: image size %d, expected 1..%d", name, size, maxFolderSize)
	}
	if maxPixels <= 0 || maxPixels > maxDecodedPixels {
		maxPixels = maxDecodedPixels
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, formatErr(name, -1, "not a readable JPEG or PNG image: %v", err)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return nil, formatErr(name, -1, "image is %dx%d pixels, more than the limit of %d pixels", cfg.Width, cfg.Height, maxPixels)
	}
	dst := make([]byte, size*size*3)
	if err := decodeImage(b, name, size, dst); err != nil {
		return nil, err
	}
	return dst, nil
}
