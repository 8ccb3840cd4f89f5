package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
)

// GreyWeights are the weights of R, G and B in the one conversion of colour
// images to grey that reading (for data.channels 1), simsiam embed, predict
// and serve share: ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, as
// Go's color.GrayModel and JPEG's YCbCr compute it. On 8-bit pixels Luma
// applies it with rounding; a JPEG's own Y plane is used as it is (the
// encoder computed it with these weights). Read only.
var GreyWeights = [3]float32{0.299, 0.587, 0.114}

// Luma is the BT.601 luma of an 8-bit RGB pixel (GreyWeights, rounded to
// the nearest level), computed in fixed point as color.GrayModel does.
func Luma(r, g, b byte) byte {
	return byte((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// luma is Luma (the name the readers use).
func luma(r, g, b byte) byte { return Luma(r, g, b) }

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
	if _, err := ReadHeader(b, name, maxPixels); err != nil {
		return nil, err
	}
	dst := make([]byte, size*size*3)
	if err := decodeImage(b, name, size, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// Header is what an encoded image's header says, read without decoding
// its pixels.
type Header struct {
	// Width and Height are the image's size in pixels.
	Width, Height int
	// DecodeBytes is the memory image.Decode allocates for the pixels (the
	// bytes per pixel of the colour model the file decodes to, times the
	// pixel count): 8 per pixel for a 16-bit RGBA PNG, 1 for a grey one.
	DecodeBytes int64
}

// bytesPerPixel is the size of one pixel of the image type image.Decode
// returns for colour model m (3 for JPEG's YCbCr, counting 4:4:4).
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4 // RGBA, NRGBA, CMYK
}

// ReadHeader reads an encoded JPEG or PNG image's header. An unreadable
// header, an empty image and one of more than maxPixels pixels (0 means the
// folder reader's limit of 2^27) are errors naming name.
func ReadHeader(b []byte, name string, maxPixels int64) (Header, error) {
	if maxPixels <= 0 || maxPixels > maxDecodedPixels {
		maxPixels = maxDecodedPixels
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Header{}, formatErr(name, -1, "not a readable JPEG or PNG image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Header{}, formatErr(name, -1, "image is %dx%d pixels, expected a positive size", cfg.Width, cfg.Height)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > maxPixels {
		return Header{}, formatErr(name, -1, "image is %dx%d pixels, more than the limit of %d pixels", cfg.Width, cfg.Height, maxPixels)
	}
	return Header{Width: cfg.Width, Height: cfg.Height, DecodeBytes: px * bytesPerPixel(cfg.ColorModel)}, nil
}

// DecodeFull decodes one JPEG or PNG image held in memory at its own size
// into 8-bit pixels with c channels (HWC, height*width*c bytes): c = 3 is
// RGB as ReadFiles converts it (alpha dropped), c = 1 grey by the one
// conversion GreyWeights describes (grey files as they are, a JPEG's Y
// plane, else Luma of the RGB). Nothing is resized. name is used in
// messages; the header is checked as ReadHeader does before decoding.
func DecodeFull(b []byte, name string, c int, maxPixels int64) (pix []byte, h, w int, err error) {
	if c != 1 && c != 3 {
		return nil, 0, 0, fmt.Errorf("data: %s: %d channels, expected 1 or 3", name, c)
	}
	if _, err := ReadHeader(b, name, maxPixels); err != nil {
		return nil, 0, 0, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, formatErr(name, -1, "not a readable JPEG or PNG image: %v", err)
	}
	r := img.Bounds()
	w, h = r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0, formatErr(name, -1, "decoded image is empty (%dx%d)", w, h)
	}
	pix = make([]byte, w*h*c)
	if c == 1 {
		greyInto(pix, img)
	} else {
		rgbInto(pix, img)
	}
	return pix, h, w, nil
}
