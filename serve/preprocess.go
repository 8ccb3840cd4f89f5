package serve

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"

	"github.com/simsiam-go/simsiam/data"
)

// The preprocessing every input form gets. Encoded images ({"b64"} in a
// request, files for EmbedFiles) are decoded at their own size to 8-bit
// pixels with the model's channels (data.DecodeFull: RGB, or grey by
// data.GreyWeights) and go, like pixel arrays, to the SavedModel's graph,
// which resizes and normalises (augment.Eval inside the exported model):
// when the shorter side is more than 1.1 x the model's image size S it is
// resized (bilinear) to round(S x 256/224), else to S, the longer side in
// proportion (rounded down); the centre S x S is cropped, scaled to [0, 1]
// and normalised with data.mean and data.std. So a client that decodes its
// own images and sends arrays gets exactly the embeddings of one that sends
// the image bytes.

// evalResizeRatio is augment.EvalResizeRatio, the ratio of the resized
// shorter side to the crop for large inputs (a test checks they agree).
const evalResizeRatio = 256.0 / 224.0

// MaxAspectRatio bounds an image's longer side over its shorter side. The
// graph resizes the shorter side to about the model's image size S, so an
// image of aspect ratio A becomes about S x A*S before the crop: the bound
// keeps that at most MaxAspectRatio*S*S pixels however thin the input is.
const MaxAspectRatio = 16

// DefaultMaxDecodeBytes is the default memory budget for decoding and
// preprocessing the images of all requests under way (1 GiB; see
// HTTPOptions.MaxDecodeBytes).
const DefaultMaxDecodeBytes = 1 << 30

// resizedShape is the size the graph resizes an h x w image to before the
// centre crop, for a model of image size size (augment.Eval's integer
// arithmetic).
func resizedShape(h, w, size int) (rh, rw int64) {
	short := int64(min(h, w))
	r := int64(size)
	if short*10 > int64(size)*11 {
		r = int64(math.Round(float64(size) * evalResizeRatio))
	}
	return r * int64(h) / short, r * int64(w) / short
}

// checkShape refuses an h x w image the graph would blow up: one whose
// aspect ratio exceeds MaxAspectRatio (so that after resizing it holds more
// than MaxAspectRatio*S*S pixels, roughly). size <= 0 (a model without
// metadata) only checks the aspect ratio.
func checkShape(where string, h, w, size int) error {
	if h < 1 || w < 1 {
		return badRequest("%s is %dx%d (height x width); both sides must be positive", where, h, w)
	}
	long, short := max(h, w), min(h, w)
	if long <= MaxAspectRatio*short {
		return nil
	}
	if size <= 0 {
		return badRequest("%s is %dx%d (height x width), an aspect ratio over the limit of %d:1", where, h, w, MaxAspectRatio)
	}
	rh, rw := resizedShape(h, w, size)
	big := int64(math.Round(float64(size) * evalResizeRatio))
	return badRequest("%s is %dx%d (height x width): the model resizes its shorter side to about %d, which would make it %dx%d = %d pixels before the %dx%d centre crop; the limit is an aspect ratio of %d:1 (at most %d pixels after resizing)",
		where, h, w, size, rh, rw, rh*rw, size, size, MaxAspectRatio, MaxAspectRatio*big*big)
}

// imageCost is the memory one image takes from the decoding budget while
// its request is under way: the decoder's image (decodeBytes, 0 for pixel
// arrays), for a grey model the RGB copy the conversion may make (3 bytes
// a pixel), the uint8 pixels fed to TensorFlow and TensorFlow's copy of
// them, and the graph's float32 copies before and after resizing.
func imageCost(h, w, c, size int, decodeBytes int64) int64 {
	px := int64(h) * int64(w) * int64(c)
	cost := decodeBytes + 2*px + 4*px
	if decodeBytes > 0 && c == 1 {
		cost += 3 * int64(h) * int64(w)
	}
	if size > 0 {
		rh, rw := resizedShape(h, w, size)
		cost += 4 * rh * rw * int64(c)
	}
	return cost
}

// budget is the decoding memory shared by all requests: a data.DecodeBudget
// (the readers' semaphore on decoded bytes) that a request takes what its
// images cost from before decoding them and gives back when it is
// answered. It never waits: a request that does not fit now is refused.
type budget struct {
	b    *data.DecodeBudget
	mu   sync.Mutex
	peak int64
}

func newBudget(limit int64) *budget { return &budget{b: data.NewDecodeBudget(limit)} }

// errBudgetFull is the 503 when the budget is taken by other requests.
var errBudgetFull = errors.New("serve: the server is busy decoding other requests' images (the decoding memory budget is in use); retry later")

// acquire takes n bytes: a 413 when n can never fit, errBudgetFull when it
// does not fit now.
func (b *budget) acquire(n int64) error {
	if limit := b.b.Limit(); n > limit {
		return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("decoding and preprocessing this request's images takes about %d bytes, more than the limit of %d bytes (simsiam serve --max-decode-bytes); send fewer or smaller images per request", n, limit)}
	}
	if !b.b.TryAcquire(n) {
		return errBudgetFull
	}
	b.mu.Lock()
	b.peak = max(b.peak, b.b.InFlight())
	b.mu.Unlock()
	return nil
}

// release gives n bytes back.
func (b *budget) release(n int64) { b.b.Release(n) }

// stats returns the bytes in use and the most ever in use.
func (b *budget) stats() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.InFlight(), b.peak
}
