package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"runtime"
	"sync"
)

// DecodeImage decodes one JPEG or PNG image held in memory exactly as
// ReadFiles decodes a file: converted to 8-bit RGB, the shorter side
// resampled to size with the bilinear filter and the centre cropped. It
// returns size*size*3 bytes (HWC). name is used in messages; an image of
// more than maxPixels pixels (width x height, read from its header before
// decoding; 0 means the folder reader's limit of 2^27) is refused before it
// is decoded.
func DecodeImage(b []byte, name string, size int, maxPixels int64) ([]byte, error) {
	return DecodeImageWithin(context.Background(), nil, b, name, size, maxPixels)
}

// DecodeImageWithin is [DecodeImage] holding the image's [DecodeCost] of
// budget while it decodes (nil: no budget): it waits for the bytes, or
// returns ctx's error if ctx ends first, and refuses an image needing more
// than the whole budget with an error naming it that wraps a *BudgetError
// (errors.Is(err, ErrOverBudget)).
func DecodeImageWithin(ctx context.Context, budget *DecodeBudget, b []byte, name string, size int, maxPixels int64) ([]byte, error) {
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
	if err := decodeImage(ctx, b, name, size, dst, budget); err != nil {
		return nil, err
	}
	return dst, nil
}

// DecodeBudget bounds the memory of the images being decoded at once: a
// semaphore weighted by the bytes decoding an image will allocate, counted
// from its header before it is decoded (see [DecodeCost]). The decoders of
// one reader share one budget, so their sum stays under it whatever the
// number of workers; a request larger than the whole budget is refused
// instead of waiting forever. Waiters are served in arrival order, so a
// large image is not starved by a stream of small ones.
//
// A nil *DecodeBudget is unlimited: Acquire and Release do nothing.
type DecodeBudget struct {
	limit int64

	mu      sync.Mutex
	used    int64
	waiters []*budgetWaiter
	// observe, when set (tests), is called under the lock with the bytes
	// in flight after every change.
	observe func(inFlight int64)
}

// budgetWaiter is one blocked Acquire.
type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes are granted
}

// ErrOverBudget matches (errors.Is) the *BudgetError of a request larger
// than a whole [DecodeBudget].
var ErrOverBudget = errors.New("data: larger than the whole decode budget")

// BudgetError is the error of [DecodeBudget.Acquire] for a request larger
// than the whole budget; errors.Is(err, ErrOverBudget) holds. The readers
// wrap it with the file (or record) and the image's size.
type BudgetError struct {
	// Need is the bytes requested, Budget the budget's size.
	Need, Budget int64
}

// Error implements the error interface.
func (e *BudgetError) Error() string {
	return fmt.Sprintf("decoding needs %d bytes, more than the whole decode budget of %d bytes", e.Need, e.Budget)
}

// Is makes errors.Is(err, ErrOverBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrOverBudget }

// DefaultDecodeBudget is the budget each reader's decoders share: 1.5 GiB,
// enough for the largest image the readers accept (2^27 pixels of 16-bit
// RGBA, 8 bytes a pixel, plus its 3-byte RGB copy), so no image within the
// pixel limit is refused, while two such images are never decoded at once.
const DefaultDecodeBudget = int64(maxDecodedPixels) * 12

// NewDecodeBudget returns a budget of limit bytes (limit > 0).
func NewDecodeBudget(limit int64) *DecodeBudget {
	return &DecodeBudget{limit: max(limit, 1)}
}

// Limit is the budget's size in bytes (0 for a nil budget: unlimited).
func (b *DecodeBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// InFlight is the number of bytes currently acquired.
func (b *DecodeBudget) InFlight() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Acquire blocks until n bytes of the budget are free and takes them, or
// returns ctx's error when ctx ends first (nothing is then taken). n larger
// than the whole budget returns a *BudgetError at once.
// n <= 0 takes nothing. Every successful Acquire must be followed by
// Release(n).
func (b *DecodeBudget) Acquire(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if n > b.limit {
		return &BudgetError{Need: n, Budget: b.limit}
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.used -= n
			b.changed()
		default:
			for i, o := range b.waiters {
				if o == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
		}
		b.grant() // the head may have changed, or bytes come back
		b.mu.Unlock()
		return ctx.Err()
	}
}

// TryAcquire takes n bytes when they are free now and no one is waiting,
// without blocking, and reports whether it did (a server refusing a request
// rather than queueing it). n <= 0 always succeeds.
func (b *DecodeBudget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.limit || len(b.waiters) > 0 || b.used+n > b.limit {
		return false
	}
	b.take(n)
	return true
}

// Release gives back n bytes taken by Acquire or TryAcquire and wakes the
// waiters that now fit. Releasing more than is held panics: it is a bug in
// the caller.
func (b *DecodeBudget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.used {
		panic(fmt.Sprintf("data: DecodeBudget.Release(%d) with only %d bytes held", n, b.used))
	}
	b.used -= n
	b.changed()
	b.grant()
}

// take adds n to the bytes in flight (b.mu held).
func (b *DecodeBudget) take(n int64) {
	b.used += n
	b.changed()
}

// grant hands bytes to the waiters at the head of the queue while they fit
// (b.mu held).
func (b *DecodeBudget) grant() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.take(w.n)
		close(w.ready)
	}
}

// changed reports the bytes in flight to the test hook (b.mu held).
func (b *DecodeBudget) changed() {
	if b.observe != nil {
		b.observe(b.used)
	}
}

// DecodeCost is what decoding the JPEG or PNG b with the readers' decoders
// allocates, from its header alone: the decoded image (width x height x the
// bytes per pixel of the image type Go's decoder returns for it: 1 for grey
// and paletted, 2 for 16-bit grey, 3 for JPEG's YCbCr over whole 16-pixel
// blocks, 4 for RGBA, 8 for 16-bit RGBA and for CMYK JPEGs, which decode
// through YCbCr; a PNG with a transparent colour decodes to RGBA, and an
// interlaced one counts twice for its passes) plus the 3-byte RGB copy the
// readers convert it to. It also returns the header.
func DecodeCost(b []byte) (image.Config, int64, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return cfg, 0, err
	}
	w, h := int64(max(cfg.Width, 0)), int64(max(cfg.Height, 0))
	px := w * h
	var decoded int64
	switch format {
	case "png":
		interlaced, transparent := pngLayout(b)
		bpp := int64(8)
		switch cfg.ColorModel {
		case color.GrayModel:
			bpp = 1
			if transparent {
				bpp = 4
			}
		case color.Gray16Model:
			bpp = 2
			if transparent {
				bpp = 8
			}
		case color.RGBAModel, color.NRGBAModel:
			bpp = 4
		case color.RGBA64Model, color.NRGBA64Model:
			bpp = 8
		default:
			if _, ok := cfg.ColorModel.(color.Palette); ok {
				bpp = 1
			}
		}
		decoded = px * bpp
		if interlaced {
			decoded *= 2
		}
	case "jpeg":
		pw, ph := (w+15)/16*16, (h+15)/16*16
		bpp := int64(3)
		switch cfg.ColorModel {
		case color.GrayModel:
			bpp = 1
		case color.CMYKModel:
			bpp = 8
		}
		decoded = pw * ph * bpp
	default:
		decoded = px * 8
	}
	return cfg, decoded + 3*px, nil
}

// pngLayout reads from a PNG's chunks before its image data whether it is
// interlaced (IHDR) and has a transparent colour (tRNS). A malformed file
// reports neither; the decoder then names the problem.
func pngLayout(b []byte) (interlaced, transparent bool) {
	const sig = 8
	for off := sig; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if n < 0 || n > len(b)-off-12 {
			return
		}
		switch typ {
		case "IHDR":
			if n >= 13 {
				interlaced = b[off+8+12] == 1
			}
		case "tRNS":
			transparent = true
		case "IDAT", "IEND":
			return
		}
		off += 12 + n
	}
	return
}

// decodeHeld runs decode with cost bytes of budget held (nil: no budget).
// When the bytes cannot be had it returns Acquire's error: a *BudgetError
// for more than the whole budget, or ctx's. After a large decode it runs
// the garbage collector before giving the bytes back, so that the next
// image is decoded into memory already freed rather than next to this
// one's garbage.
func decodeHeld(ctx context.Context, budget *DecodeBudget, cost int64, decode func() error) error {
	if err := budget.Acquire(ctx, cost); err != nil {
		return err
	}
	err := decode()
	if budget != nil && cost >= gcEvery {
		runtime.GC()
	}
	budget.Release(cost)
	return err
}
