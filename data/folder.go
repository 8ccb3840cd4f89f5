package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Limits for ReadFolder: the output side, a single image file and the
// decoded pixel count (which guards against decompression bombs).
const (
	maxFolderSize      = 4096
	maxImageFileBytes  = 256 << 20
	maxDecodedPixels   = 1 << 27
	folderImageExtList = ".jpg, .jpeg, .png"
)

// ReadFolder reads a folder of JPEG and PNG files, resizing every image to
// size x size RGB: the shorter side is resampled to size with a bilinear
// filter and the centre is cropped. Pixel data of grey, paletted, 16-bit or
// CMYK files is converted to 8-bit RGB; alpha is dropped.
//
// With labelled set, every sub-folder of root is a class: classes are
// sorted by name, ClassNames[l] is the folder name of label l, and the
// images of a class are the .jpg/.jpeg/.png files anywhere below its folder.
// Files directly in root are ignored. Without labelled, every image file
// below root (flat or nested) is read and Labels is nil. File extensions are
// matched case-insensitively; names starting with '.' are skipped. Images
// are ordered by class, then by path.
//
// A class folder (or an unlabeled root) without images, an unreadable or
// corrupt image and an image larger than 2^27 pixels are errors naming the
// folder or file.
func ReadFolder(root string, size int, labelled bool) (*Images, error) {
	if size <= 0 || size > maxFolderSize {
		return nil, fmt.Errorf("data: %s: image size %d, expected 1..%d", root, size, maxFolderSize)
	}
	var files []string
	var labels []int32
	var classNames []string
	if labelled {
		entries, err := os.ReadDir(root) // sorted by name
		if err != nil {
			return nil, fmt.Errorf("data: image folder: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !isDirEntryDir(root, e) {
				continue
			}
			classNames = append(classNames, e.Name())
		}
		if len(classNames) == 0 {
			return nil, fmt.Errorf("data: %s: no class sub-folders, expected root/<class>/<image> for a labelled folder", root)
		}
		for ci, name := range classNames {
			dir := filepath.Join(root, name)
			imgs, err := ListImages(dir)
			if err != nil {
				return nil, err
			}
			if len(imgs) == 0 {
				return nil, fmt.Errorf("data: class folder %s contains no images (%s)", dir, folderImageExtList)
			}
			for range imgs {
				labels = append(labels, int32(ci))
			}
			files = append(files, imgs...)
		}
	} else {
		var err error
		if files, err = ListImages(root); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: folder %s contains no images (%s)", root, folderImageExtList)
		}
	}

	s, err := readFiles(files, size, root)
	if err != nil {
		return nil, err
	}
	if labelled {
		s.Labels, s.NumClasses, s.ClassNames = labels, len(classNames), classNames
	}
	return s, nil
}

// ReadFiles decodes JPEG and PNG files, in the given order, into an
// unlabeled RGB set, each resized and centre-cropped to size x size as
// ReadFolder does. An unreadable or corrupt file is an error naming it.
func ReadFiles(paths []string, size int) (*Images, error) {
	if size <= 0 || size > maxFolderSize {
		return nil, fmt.Errorf("data: image size %d, expected 1..%d", size, maxFolderSize)
	}
	return readFiles(paths, size, fmt.Sprintf("%d files", len(paths)))
}

// readFiles decodes files into a new RGB set labelled source.
func readFiles(files []string, size int, source string) (*Images, error) {
	sz := size * size * 3
	if len(files) > math.MaxInt/sz {
		return nil, fmt.Errorf("data: %s: too many images", source)
	}
	s := &Images{N: len(files), H: size, W: size, C: 3, Source: source}
	s.Pix = make([]byte, len(files)*sz)
	if err := decodeAll(files, size, s.Pix); err != nil {
		return nil, err
	}
	return s, nil
}

// isDirEntryDir reports whether e is a directory, following a symlink.
func isDirEntryDir(parent string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(parent, e.Name()))
		return err == nil && st.IsDir()
	}
	return false
}

// ListImages returns the .jpg, .jpeg and .png files (extensions matched
// case-insensitively) below dir, at any depth, in lexical order of their
// paths, skipping names that start with '.'. It is the walk ReadFolder
// makes and the one simsiam embed, predict and package serve use.
func ListImages(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(d.Name())) {
		case ".jpg", ".jpeg", ".png":
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: listing images: %w", err)
	}
	return out, nil
}

// decodeAll decodes files[i] into pix[i*size*size*3:] on GOMAXPROCS
// workers sharing one DefaultDecodeBudget and returns the error of the
// lowest-numbered failing file.
func decodeAll(files []string, size int, pix []byte) error {
	return decodeAllWithin(files, size, pix, NewDecodeBudget(DefaultDecodeBudget))
}

// decodeAllWithin is decodeAll with the workers' decoded bytes bounded by
// budget.
func decodeAllWithin(files []string, size int, pix []byte, budget *DecodeBudget) error {
	sz := size * size * 3
	errs := make([]error, len(files))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				if err := loadImage(files[i], size, pix[i*sz:(i+1)*sz], budget); err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return firstNonNil(errs)
}

func firstNonNil(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// loadImage reads and decodes one image file into dst (size*size*3 bytes),
// holding its decoding cost of budget.
func loadImage(path string, size int, dst []byte, budget *DecodeBudget) error {
	b, err := readSmallFile(path, maxImageFileBytes)
	if err != nil {
		return err
	}
	return decodeImage(context.Background(), b, path, size, dst, budget)
}

// decodeImage decodes a JPEG or PNG held in b and writes it, resized and
// centre-cropped to size x size RGB, to dst, holding its DecodeCost of
// budget meanwhile (nil: no budget). name is used in messages; an image
// larger than the whole budget is refused before it is decoded.
func decodeImage(ctx context.Context, b []byte, name string, size int, dst []byte, budget *DecodeBudget) error {
	cfg, cost, err := DecodeCost(b)
	if err != nil {
		return formatErr(name, -1, "not a readable JPEG or PNG image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxDecodedPixels {
		return formatErr(name, -1, "image is %dx%d pixels, expected a positive size of at most %d pixels",
			cfg.Width, cfg.Height, maxDecodedPixels)
	}
	err = decodeHeld(ctx, budget, cost, func() error {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return formatErr(name, -1, "not a readable JPEG or PNG image: %v", err)
		}
		rgb, w, h := toRGB8(img)
		if w <= 0 || h <= 0 {
			return formatErr(name, -1, "decoded image is empty (%dx%d)", w, h)
		}
		resizeShortCrop(dst, rgb, w, h, size)
		return nil
	})
	switch {
	case errors.Is(err, ErrOverBudget):
		return fmt.Errorf("data: %s: image is %dx%d pixels: %w", name, cfg.Width, cfg.Height, err)
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("data: %s: %w", name, err)
	}
	return err
}

// toRGB8 converts any image to packed 8-bit RGB (alpha dropped, colours not
// premultiplied) in a new buffer; see rgbInto.
func toRGB8(img image.Image) ([]byte, int, int) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0
	}
	out := make([]byte, w*h*3)
	rgbInto(out, img)
	return out, w, h
}

// unpremultiply8 is color.NRGBAModel's conversion of a 16-bit
// alpha-premultiplied colour to 8-bit non-premultiplied R, G, B.
func unpremultiply8(r, g, b, a uint32) (uint8, uint8, uint8) {
	switch a {
	case 0xffff:
		return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
	case 0:
		return 0, 0, 0
	}
	return uint8((r * 0xffff / a) >> 8), uint8((g * 0xffff / a) >> 8), uint8((b * 0xffff / a) >> 8)
}

// rgbInto writes any image as packed 8-bit RGB (alpha dropped, colours not
// premultiplied) to out, which must hold width*height*3 bytes, with fast
// paths for the types the JPEG and PNG decoders return most often.
func rgbInto(out []byte, img image.Image) {
	r := img.Bounds()
	w := r.Dx()
	o := 0
	switch m := img.(type) {
	case *image.YCbCr:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				out[o], out[o+1], out[o+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o += 3
			}
		}
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < w; x++ {
				v := row[x]
				out[o], out[o+1], out[o+2] = v, v, v
				o += 3
			}
		}
	case *image.NRGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < w; x++ {
				out[o], out[o+1], out[o+2] = row[4*x], row[4*x+1], row[4*x+2]
				o += 3
			}
		}
	case *image.NRGBA64:
		// 16-bit PNGs: read the pixels in place instead of through At,
		// which boxes a color.Color for every pixel (for a 134 Mpx image
		// gigabytes of garbage), with NRGBAModel's arithmetic.
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < w; x++ {
				p := row[8*x:]
				a := uint32(p[6])<<8 | uint32(p[7])
				// NRGBA64.RGBA premultiplies by alpha.
				cr := (uint32(p[0])<<8 | uint32(p[1])) * a / 0xffff
				cg := (uint32(p[2])<<8 | uint32(p[3])) * a / 0xffff
				cb := (uint32(p[4])<<8 | uint32(p[5])) * a / 0xffff
				out[o], out[o+1], out[o+2] = unpremultiply8(cr, cg, cb, a)
				o += 3
			}
		}
	case *image.RGBA64:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):]
			for x := 0; x < w; x++ {
				p := row[8*x:]
				out[o], out[o+1], out[o+2] = unpremultiply8(uint32(p[0])<<8|uint32(p[1]), uint32(p[2])<<8|uint32(p[3]),
					uint32(p[4])<<8|uint32(p[5]), uint32(p[6])<<8|uint32(p[7]))
				o += 3
			}
		}
	default:
		opaque := false
		if rgba, ok := m.(*image.RGBA); ok && rgba.Opaque() {
			opaque = true
			for y := r.Min.Y; y < r.Max.Y; y++ {
				row := rgba.Pix[rgba.PixOffset(r.Min.X, y):]
				for x := 0; x < w; x++ {
					out[o], out[o+1], out[o+2] = row[4*x], row[4*x+1], row[4*x+2]
					o += 3
				}
			}
		}
		if !opaque {
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
					out[o], out[o+1], out[o+2] = c.R, c.G, c.B
					o += 3
				}
			}
		}
	}
}
