package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/augment"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/testutil/trainfix"
)

// grey28 is a grey 28x28 model (the Fashion-MNIST demo's geometry, tiny
// network, initial weights), exported once for the tests below.
var grey28 struct {
	once     sync.Once
	dir, tmp string
	err      error
}

func greyModel(t *testing.T) string {
	t.Helper()
	grey28.once.Do(func() {
		cfg := tinyConfig()
		cfg.Data.ImageSize, cfg.Data.Channels = 28, 1
		cfg.Data.Mean, cfg.Data.Std = []float64{0.29}, []float64{0.35}
		dir, err := os.MkdirTemp("", "serve-grey-")
		if err != nil {
			grey28.err = err
			return
		}
		grey28.tmp = dir // removed by TestMain
		ckpt := filepath.Join(dir, "ckpt-0")
		if grey28.err = trainfix.WriteCheckpoint(cfg, ckpt, 0, 0, 0); grey28.err != nil {
			return
		}
		grey28.dir = filepath.Join(dir, "model")
		grey28.err = export.Export(cfg, ckpt, grey28.dir, false)
	})
	if grey28.err != nil {
		t.Fatal(grey28.err)
	}
	return grey28.dir
}

func encodeImage(t *testing.T, img image.Image, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func b64(b []byte) map[string]string {
	return map[string]string{"b64": base64.StdEncoding.EncodeToString(b)}
}

// TestResizeRuleMatchesGraph: the host's copy of the graph's resize rule
// uses augment's ratio.
func TestResizeRuleMatchesGraph(t *testing.T) {
	if evalResizeRatio != augment.EvalResizeRatio {
		t.Fatalf("evalResizeRatio %v, augment.EvalResizeRatio %v", evalResizeRatio, augment.EvalResizeRatio)
	}
	for _, c := range []struct{ h, w, size, rh, rw int }{
		{40, 60, 28, 32, 48}, {28, 28, 28, 28, 28}, {30, 90, 28, 28, 84}, {31, 31, 28, 32, 32}, {1, 1000, 28, 28, 28000},
	} {
		if rh, rw := resizedShape(c.h, c.w, c.size); rh != int64(c.rh) || rw != int64(c.rw) {
			t.Errorf("%dx%d at %d: %dx%d, want %dx%d", c.h, c.w, c.size, rh, rw, c.rh, c.rw)
		}
	}
}

// TestHTTPResizeBound: arrays and images thinner than MaxAspectRatio get a
// 400 naming the limit before anything is allocated; up to the limit they
// are served.
func TestHTTPResizeBound(t *testing.T) {
	m, err := Load(greyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{})
	url := srv.URL + "/v1/models/tiny:predict"
	thin := image.NewGray(image.Rect(0, 0, 300, 1))
	for _, c := range []struct {
		name string
		body any
		code int
		want string
	}{
		{"1x4000 array", map[string]any{"instances": nested(make([]byte, 4000), 1, 1, 4000, 1)}, 400, "instances[0] is 1x4000 (height x width): the model resizes its shorter side to about 28, which would make it 28x112000 = 3136000 pixels before the 28x28 centre crop; the limit is an aspect ratio of 16:1"},
		{"columnar 2x33", map[string]any{"inputs": nested(make([]byte, 66), 1, 2, 33, 1)}, 400, "aspect ratio of 16:1"},
		{"1x300 png", map[string]any{"instances": []any{b64(encodeImage(t, thin, "png"))}}, 400, "instances[0] is 1x300"},
		{"2x32 array", map[string]any{"instances": nested(make([]byte, 64), 1, 2, 32, 1)}, 200, ""},
	} {
		code, resp := post(t, url, c.body)
		if code != c.code || !strings.Contains(string(resp["error"]), c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, resp["error"], c.code, c.want)
		}
	}
	// The Go API's file path has the same bound.
	p := filepath.Join(t.TempDir(), "thin.png")
	if err := os.WriteFile(p, encodeImage(t, thin, "png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.EmbedFiles([]string{p}); err == nil || !strings.Contains(err.Error(), "aspect ratio of 16:1") {
		t.Errorf("EmbedFiles of a 1x300 image: %v", err)
	}
}

// bigPNG is a 16-bit RGBA PNG (8 bytes a pixel once decoded) of random
// noise.
func bigPNG(t *testing.T, side int, seed uint64) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, side, side))
	pix := randomPix(seed, len(img.Pix))
	copy(img.Pix, pix)
	return encodeImage(t, img, "png")
}

// TestHTTPDecodeBudget: concurrent requests of big PNGs hold at most the
// decoding budget: those that do not fit get 503 at once, before decoding;
// a request that can never fit gets 413; everything is given back.
func TestHTTPDecodeBudget(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const side = 256
	png := bigPNG(t, side, 3)
	hdr, err := data.ReadHeader(png, "x", 0)
	if err != nil {
		t.Fatal(err)
	}
	one := imageCost(side, side, 3, 16, hdr.DecodeBytes)
	if hdr.DecodeBytes != side*side*8 {
		t.Fatalf("a 16-bit RGBA PNG decodes to %d bytes, want %d", hdr.DecodeBytes, side*side*8)
	}
	limit := 2*one + one/2 // room for two requests of one image
	h, srv := newTestServer(t, m, HTTPOptions{MaxDecodeBytes: limit})
	url := srv.URL + "/v1/models/tiny:predict"

	// Decoding waits on the test, so that requests overlap for certain.
	entered := make(chan int, 16)
	release := make(chan struct{})
	h.s.decoded = func(i int) {
		entered <- i
		<-release
	}
	const n = 6
	codes := make(chan int, n)
	retry := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			body := mustJSON(map[string]any{"instances": []any{b64(png)}})
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
			retry <- resp.Header.Get("Retry-After")
		})
	}
	// Two requests get in and decode; the four others are refused while
	// the two hold the budget.
	for range 2 {
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			t.Fatal("no request started decoding")
		}
	}
	refused := 0
	for refused < n-2 {
		select {
		case c := <-codes:
			if c != http.StatusServiceUnavailable {
				t.Errorf("a request beyond the budget: status %d, want 503", c)
			}
			if r := <-retry; r != "1" {
				t.Errorf("503 without Retry-After: %q", r)
			}
			refused++
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d requests refused while the budget was taken", refused)
		}
	}
	if used, peak := h.budget.stats(); used != 2*one || peak > limit {
		t.Errorf("budget in use %d (want %d), peak %d (limit %d)", used, 2*one, peak, limit)
	}
	close(release)
	wg.Wait()
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("a request within the budget: status %d", c)
		}
	}
	if used, peak := h.budget.stats(); used != 0 || peak > limit || peak != 2*one {
		t.Errorf("after the requests: in use %d, peak %d, want 0 and %d (limit %d)", used, peak, 2*one, limit)
	}
	// Three images never fit: 413, and nothing is decoded.
	h.s.decoded = func(int) { t.Error("decoded an image of a request beyond the budget") }
	code, resp := post(t, url, map[string]any{"instances": []any{b64(png), b64(png), b64(png)}})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(resp["error"]), fmt.Sprintf("more than the limit of %d bytes (simsiam serve --max-decode-bytes)", limit)) {
		t.Errorf("three big images: %d %s", code, resp["error"])
	}
}

// TestDecodeStopsOnCancel: the decoding of a many-image request stops at
// the next image once its context is cancelled (the client hung up).
func TestDecodeStopsOnCancel(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := NewHTTPHandler(m, HTTPOptions{Name: "tiny", Batch: DefaultBatchOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	png := bigPNG(t, 64, 5)
	const n = 50
	imgs := make([]imageValue, n)
	for i := range imgs {
		imgs[i] = imageValue{encoded: png, where: fmt.Sprintf("instances[%d]", i)}
	}
	ss, err := h.s.signature("")
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := h.s.plan(ss, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		cancelAt int // cancel after decoding this image; -1 before
		want     int // images decoded
	}{{"cancelled before", -1, 0}, {"cancelled after image 2", 2, 3}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancelAt < 0 {
				cancel()
			}
			decoded := 0
			h.s.decoded = func(i int) {
				decoded++
				if i == c.cancelAt {
					cancel()
				}
			}
			_, err := h.s.decode(ctx, imgs, plan)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("decode: %v, want context.Canceled", err)
			}
			if decoded != c.want {
				t.Errorf("decoded %d of %d images, want %d", decoded, n, c.want)
			}
		})
	}
	// Uncancelled, all are decoded.
	decoded := 0
	h.s.decoded = func(int) { decoded++ }
	if _, err := h.s.decode(context.Background(), imgs, plan); err != nil || decoded != n {
		t.Errorf("uncancelled: %v, %d decoded", err, decoded)
	}
}

// greyImage is a smooth grey test picture with some texture.
func greyImage(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{uint8((x*7 + y*11 + (x*y)%23) % 256)})
		}
	}
	return img
}

// TestOnePreprocessing: the same pixels as {"b64"} PNG, as a pixel array
// (row and columnar) and as a file for EmbedFiles give exactly the same
// embedding, for a 40x60 grey image on a 28x28 grey model (resized by the
// graph to 32x48 and cropped) and an RGB one on the RGB model; an RGB PNG
// and JPEG on the grey model equal the array of their grey pixels by the
// one rule (data.DecodeFull, as the training reader decodes them).
func TestOnePreprocessing(t *testing.T) {
	greyDir := greyModel(t)
	f := exported(t)
	colour := image.NewNRGBA(image.Rect(0, 0, 40, 60))
	copy(colour.Pix, randomPix(21, len(colour.Pix)))
	for i := 3; i < len(colour.Pix); i += 4 {
		colour.Pix[i] = 255
	}
	smooth := image.NewNRGBA(image.Rect(0, 0, 40, 60))
	for y := 0; y < 60; y++ {
		for x := 0; x < 40; x++ {
			smooth.SetNRGBA(x, y, color.NRGBA{uint8(x * 6), uint8(y * 4), uint8((x + y) * 2), 255})
		}
	}
	for _, c := range []struct {
		name, dir string
		enc       []byte
		channels  int
	}{
		{"grey png, grey model", greyDir, encodeImage(t, greyImage(40, 60), "png"), 1},
		{"rgb png, grey model", greyDir, encodeImage(t, colour, "png"), 1},
		{"rgb jpeg, grey model", greyDir, encodeImage(t, smooth, "jpeg"), 1},
		{"rgb png, rgb model", f.dir, encodeImage(t, colour, "png"), 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, srv := newTestServer(t, m, HTTPOptions{})
			url := srv.URL + "/v1/models/tiny:predict"
			pix, h, w, err := data.DecodeFull(c.enc, "x", c.channels, 0)
			if err != nil {
				t.Fatal(err)
			}
			if h != 60 || w != 40 {
				t.Fatalf("decoded %dx%d", h, w)
			}
			want, err := m.Embed(pix, 1, h, w, c.channels)
			if err != nil {
				t.Fatal(err)
			}
			code, resp := post(t, url, map[string]any{"instances": []any{b64(c.enc)}})
			if code != 200 {
				t.Fatalf("b64: %d %s", code, resp["error"])
			}
			exactlyEqual(t, "b64", floats(t, resp["predictions"]), want)
			code, resp = post(t, url, map[string]any{"instances": nested(pix, 1, h, w, c.channels)})
			if code != 200 {
				t.Fatalf("array: %d %s", code, resp["error"])
			}
			exactlyEqual(t, "[60][40][c] array", floats(t, resp["predictions"]), want)
			code, resp = post(t, url, map[string]any{"inputs": nested(pix, 1, h, w, c.channels)})
			if code != 200 {
				t.Fatalf("columnar: %d %s", code, resp["error"])
			}
			exactlyEqual(t, "columnar array", floats(t, resp["outputs"]), want)
			p := filepath.Join(t.TempDir(), "x.png")
			if strings.Contains(c.name, "jpeg") {
				p = strings.TrimSuffix(p, ".png") + ".jpg"
			}
			if err := os.WriteFile(p, c.enc, 0o644); err != nil {
				t.Fatal(err)
			}
			files, err := m.EmbedFiles([]string{p})
			if err != nil {
				t.Fatal(err)
			}
			exactlyEqual(t, "EmbedFiles", files, want)
		})
	}
}

// TestMixedSizesOneRequest: b64 images of several sizes in one request are
// run as one batch per size and answered in request order.
func TestMixedSizesOneRequest(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, srv := newTestServer(t, m, HTTPOptions{})
	url := srv.URL + "/v1/models/tiny:predict"
	sizes := [][2]int{{20, 30}, {16, 16}, {20, 30}, {33, 17}}
	var inst []any
	var want [][]float32
	for i, sz := range sizes {
		img := image.NewNRGBA(image.Rect(0, 0, sz[0], sz[1]))
		copy(img.Pix, randomPix(uint64(60+i), len(img.Pix)))
		enc := encodeImage(t, img, "png")
		inst = append(inst, b64(enc))
		pix, hh, ww, err := data.DecodeFull(enc, "x", 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		row, err := m.Embed(pix, 1, hh, ww, 3)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, row...)
	}
	code, resp := post(t, url, map[string]any{"instances": inst})
	if code != 200 {
		t.Fatalf("%d %s", code, resp["error"])
	}
	exactlyEqual(t, "mixed sizes", floats(t, resp["predictions"]), want)
	if st := h.Stats(); st.Runs != 3 || st.Images != 4 || st.Sizes[2] != 1 {
		t.Errorf("stats %+v, want 3 runs (one of 2 images) of 4 images", st)
	}
}

// TestHTTPMaxPendingBeforeDecoding: --max-pending is checked before a
// request's images are decoded: while one request holds the only slot
// (decoding), the next is refused with 503 without decoding anything.
func TestHTTPMaxPendingBeforeDecoding(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, srv := newTestServer(t, m, HTTPOptions{Batch: BatchOptions{MaxBatch: 8, Timeout: 0, MaxPending: 1, Threads: 1}})
	url := srv.URL + "/v1/models/tiny:predict"
	png := bigPNG(t, 32, 8)
	entered := make(chan int, 4)
	release := make(chan struct{})
	h.s.decoded = func(i int) {
		entered <- i
		<-release
	}
	first := make(chan int, 1)
	go func() {
		code, _ := post(t, url, map[string]any{"instances": []any{b64(png)}})
		first <- code
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first request never decoded")
	}
	code, resp := post(t, url, map[string]any{"instances": []any{b64(png)}})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(resp["error"]), "overloaded") {
		t.Errorf("second request: %d %s, want 503 overloaded", code, resp["error"])
	}
	select {
	case i := <-entered:
		t.Errorf("the refused request decoded image %d", i)
	default:
	}
	close(release)
	if c := <-first; c != 200 {
		t.Errorf("first request: %d", c)
	}
	if n := h.b.Pending(); n != 0 {
		t.Errorf("%d slots still taken", n)
	}
	if used, _ := h.budget.stats(); used != 0 {
		t.Errorf("%d budget bytes still taken", used)
	}
	// A request refused by the budget gives its slot back.
	h.s.decoded = nil
	h.budget = newBudget(1)
	if code, _ := post(t, url, map[string]any{"instances": []any{b64(png)}}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("beyond the budget: %d, want 413", code)
	}
	if n := h.b.Pending(); n != 0 {
		t.Errorf("after a 413: %d slots still taken", n)
	}
}

// TestPredictFiles: predict's path decodes files as EmbedFiles does (own
// size, the graph resizes), batching consecutive files of one size.
func TestPredictFiles(t *testing.T) {
	m, err := Load(classifierModel(t), WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	var paths []string
	var want []Prediction
	for i, sz := range [][2]int{{20, 30}, {20, 30}, {20, 30}, {40, 17}} {
		p := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		writePNG(t, p, sz[0], sz[1], uint64(80+i))
		paths = append(paths, p)
		pix, h, w := decodeFileRGB(t, p)
		one, err := m.Predict(pix, 1, h, w, 3)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, one...)
	}
	got, err := m.PredictFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d predictions for %d files", len(got), len(want))
	}
	for i := range got {
		if got[i].Class != want[i].Class || got[i].Name != want[i].Name || maxDiff(t, [][]float32{got[i].Probabilities}, [][]float32{want[i].Probabilities}) > 1e-6 {
			t.Errorf("file %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := m.PredictFiles([]string{filepath.Join(dir, "gone.png")}); err == nil || !strings.Contains(err.Error(), "gone.png") {
		t.Errorf("missing file: %v", err)
	}
	f := exported(t)
	plain, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.PredictFiles(paths); err == nil || !strings.Contains(err.Error(), "no classify signature") {
		t.Errorf("a model without classify: %v", err)
	}
}
