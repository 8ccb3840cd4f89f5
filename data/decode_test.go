package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDecodeImage: bytes in memory decode to the pixels ReadFiles gives for
// the same file; the pixel bound is read from the header.
func TestDecodeImage(t *testing.T) {
	dir := t.TempDir()
	for i, enc := range []func(testing.TB, int, int) []byte{
		func(t testing.TB, w, h int) []byte { return encodePNG(t, patternImage(w, h, 1)) },
		func(t testing.TB, w, h int) []byte { return encodeJPEG(t, patternImage(w, h, 2)) },
	} {
		b := enc(t, 37, 22)
		p := filepath.Join(dir, []string{"a.png", "b.jpg"}[i])
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := ReadFiles([]string{p}, 16)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeImage(b, "x", 16, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Pix) {
			t.Errorf("%s: DecodeImage differs from ReadFiles", p)
		}
		if _, err := DecodeImage(b, "big", 16, 37*22-1); err == nil || !strings.Contains(err.Error(), "big: image is 37x22 pixels, more than the limit of 813 pixels") {
			t.Errorf("pixel bound: %v", err)
		}
	}
	if _, err := DecodeImage([]byte("not an image"), "junk", 16, 0); err == nil || !strings.Contains(err.Error(), "junk: not a readable JPEG or PNG image") {
		t.Errorf("junk: %v", err)
	}
	if _, err := DecodeImage(nil, "empty", 0, 0); err == nil || !strings.Contains(err.Error(), "image size 0") {
		t.Errorf("size 0: %v", err)
	}
}

// waitQueued waits until b has n blocked Acquires.
func waitQueued(t *testing.T, b *DecodeBudget, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		k := len(b.waiters)
		b.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after 10 s, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// acquireAsync runs Acquire in a goroutine; the channel gets its result.
func acquireAsync(ctx context.Context, b *DecodeBudget, n int64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Acquire(ctx, n) }()
	return done
}

// notYet fails when done has a result already.
func notYet(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while it should wait", what, err)
	case <-time.After(20 * time.Millisecond):
	}
}

// result waits for done's result.
func result(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waiting after 10 s", what)
		return nil
	}
}

func TestDecodeBudgetAcquireRelease(t *testing.T) {
	ctx := context.Background()
	b := NewDecodeBudget(100)
	steps := []struct {
		name     string
		do       func() error
		wantErr  bool
		inFlight int64
	}{
		{"acquire 60", func() error { return b.Acquire(ctx, 60) }, false, 60},
		{"try 50 does not fit", func() error {
			if b.TryAcquire(50) {
				return errors.New("TryAcquire(50) succeeded")
			}
			return nil
		}, false, 60},
		{"try 40 fits", func() error {
			if !b.TryAcquire(40) {
				return errors.New("TryAcquire(40) failed")
			}
			return nil
		}, false, 100},
		{"zero takes nothing", func() error { return b.Acquire(ctx, 0) }, false, 100},
		{"more than the budget", func() error { return b.Acquire(ctx, 101) }, true, 100},
		{"release 40", func() error { b.Release(40); return nil }, false, 60},
		{"release 60", func() error { b.Release(60); return nil }, false, 0},
		{"the whole budget", func() error { return b.Acquire(ctx, 100) }, false, 100},
		{"release it", func() error { b.Release(100); return nil }, false, 0},
	}
	for _, st := range steps {
		err := st.do()
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: error %v, want error %v", st.name, err, st.wantErr)
		}
		if err != nil {
			var be *BudgetError
			if !errors.As(err, &be) || be.Need != 101 || be.Budget != 100 || !errors.Is(err, ErrOverBudget) {
				t.Errorf("%s: error %v (%T), want a *BudgetError{101, 100} matching ErrOverBudget", st.name, err, err)
			}
		}
		if got := b.InFlight(); got != st.inFlight {
			t.Fatalf("%s: %d bytes in flight, want %d", st.name, got, st.inFlight)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("releasing bytes not held did not panic")
			}
		}()
		b.Release(1)
	}()

	var none *DecodeBudget // unlimited
	if err := none.Acquire(ctx, 1<<62); err != nil || !none.TryAcquire(1<<62) || none.Limit() != 0 || none.InFlight() != 0 {
		t.Errorf("a nil budget is not unlimited: %v", err)
	}
	none.Release(1 << 62)
}

// TestDecodeBudgetWaitsInOrder: an Acquire that does not fit waits for a
// Release; waiters are served first come first served, so a small request
// does not overtake a large one (TryAcquire neither).
func TestDecodeBudgetWaitsInOrder(t *testing.T) {
	ctx := context.Background()
	b := NewDecodeBudget(10)
	if err := b.Acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	big := acquireAsync(ctx, b, 10)
	waitQueued(t, b, 1)
	small := acquireAsync(ctx, b, 1)
	waitQueued(t, b, 2)
	if b.TryAcquire(1) {
		t.Errorf("TryAcquire(1) overtook the waiters")
	}
	notYet(t, small, "Acquire(1) behind Acquire(10)")
	b.Release(8)
	if err := result(t, big, "Acquire(10)"); err != nil {
		t.Fatal(err)
	}
	notYet(t, small, "Acquire(1) with the budget full")
	b.Release(10)
	if err := result(t, small, "Acquire(1)"); err != nil {
		t.Fatal(err)
	}
	if got := b.InFlight(); got != 1 {
		t.Errorf("%d bytes in flight, want 1", got)
	}
}

// TestDecodeBudgetCancel: a waiter whose context ends returns its error and
// takes nothing, and the waiters behind it move up.
func TestDecodeBudgetCancel(t *testing.T) {
	b := NewDecodeBudget(10)
	if err := b.Acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	head := acquireAsync(ctx, b, 5)
	waitQueued(t, b, 1)
	behind := acquireAsync(context.Background(), b, 2) // fits, but queued behind head
	waitQueued(t, b, 2)
	notYet(t, behind, "Acquire(2) behind a waiter")
	cancel()
	if err := result(t, head, "the cancelled Acquire"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Acquire returned %v, want context.Canceled", err)
	}
	if err := result(t, behind, "Acquire(2) after the head left"); err != nil {
		t.Fatal(err)
	}
	if got := b.InFlight(); got != 10 {
		t.Errorf("%d bytes in flight, want 8 + 2", got)
	}
}

// TestDecodeBudgetNeverExceeded: many goroutines acquiring and releasing
// random amounts never hold more than the budget together, and every byte
// comes back.
func TestDecodeBudgetNeverExceeded(t *testing.T) {
	const limit = 1000
	b := NewDecodeBudget(limit)
	var peak, over atomic.Int64
	b.observe = func(n int64) {
		if n > peak.Load() {
			peak.Store(n)
		}
		if n > limit || n < 0 {
			over.Add(1)
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				n := 1 + r.Int64N(limit)
				if err := b.Acquire(context.Background(), n); err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched()
				b.Release(n)
			}
		})
	}
	wg.Wait()
	if over.Load() > 0 {
		t.Errorf("the bytes in flight left [0, %d] %d times", limit, over.Load())
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still held", b.InFlight())
	}
	if peak.Load() <= limit/2 {
		t.Errorf("peak %d: the test never filled the budget", peak.Load())
	}
}

// withTRNS inserts a tRNS chunk (a transparent colour) after a PNG's IHDR.
func withTRNS(png []byte, data []byte) []byte {
	const afterIHDR = 8 + 12 + 13
	out := append([]byte{}, png[:afterIHDR]...)
	out = appendPNGChunk(out, "tRNS", data)
	return append(out, png[afterIHDR:]...)
}

// interlaced marks a PNG's IHDR as interlaced (Adam7); only its header is
// then valid, which is all DecodeCost reads.
func interlaced(png []byte) []byte {
	out := append([]byte{}, png...)
	out[8+8+12] = 1
	binary.BigEndian.PutUint32(out[8+8+13:], crc32.ChecksumIEEE(out[8+4:8+8+13]))
	return out
}

// appendPNGChunk appends one PNG chunk with its CRC.
func appendPNGChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// decodedBytes is the pixel memory of a decoded image.
func decodedBytes(t *testing.T, img image.Image) int64 {
	switch m := img.(type) {
	case *image.Gray:
		return int64(len(m.Pix))
	case *image.Gray16:
		return int64(len(m.Pix))
	case *image.RGBA:
		return int64(len(m.Pix))
	case *image.NRGBA:
		return int64(len(m.Pix))
	case *image.RGBA64:
		return int64(len(m.Pix))
	case *image.NRGBA64:
		return int64(len(m.Pix))
	case *image.Paletted:
		return int64(len(m.Pix))
	case *image.YCbCr:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr))
	case *image.CMYK:
		return int64(len(m.Pix))
	}
	t.Fatalf("no size for %T", img)
	return 0
}

// TestDecodeCost: the cost read from the header is the documented bytes
// per pixel for each type Go's decoders return, plus the 3-byte RGB copy,
// and never less than what decoding actually allocates for the image.
func TestDecodeCost(t *testing.T) {
	const w, h = 37, 22
	grey := image.NewGray(image.Rect(0, 0, w, h))
	grey16 := image.NewGray16(image.Rect(0, 0, w, h))
	opaque64 := image.NewRGBA64(image.Rect(0, 0, w, h))
	alpha64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			grey.SetGray(x, y, color.Gray{uint8(x * y)})
			grey16.SetGray16(x, y, color.Gray16{uint16(x * y * 97)})
			opaque64.SetRGBA64(x, y, color.RGBA64{uint16(x * 999), uint16(y * 999), 7, 0xffff})
			alpha64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 999), uint16(y * 999), 7, uint16(x * 1000)})
		}
	}
	alpha := patternImage(w, h, 3)
	alpha.Pix[3] = 10 // not opaque: written as RGBA with alpha
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	padded := int64((w + 15) / 16 * 16 * ((h + 15) / 16 * 16))
	px := int64(w * h)
	cases := []struct {
		name   string
		b      []byte
		want   int64 // decoded bytes charged, before the RGB copy
		decode bool  // also decode it and compare with the real size
	}{
		{"grey png", encodePNG(t, grey), px, true},
		{"grey png with a transparent colour", withTRNS(encodePNG(t, grey), []byte{0, 9}), 4 * px, true},
		{"16-bit grey png", encodePNG(t, grey16), 2 * px, true},
		{"16-bit grey png with a transparent colour", withTRNS(encodePNG(t, grey16), []byte{0, 9}), 8 * px, true},
		{"rgb png", encodePNG(t, patternImage(w, h, 1)), 4 * px, true},
		{"rgba png", encodePNG(t, alpha), 4 * px, true},
		{"16-bit rgb png", encodePNG(t, opaque64), 8 * px, true},
		{"16-bit rgba png", encodePNG(t, alpha64), 8 * px, true},
		{"paletted png", encodePNG(t, pal), px, true},
		{"interlaced 16-bit rgba png", interlaced(encodePNG(t, alpha64)), 16 * px, false},
		{"colour jpeg", encodeJPEG(t, patternImage(w, h, 2)), 3 * padded, true},
		{"grey jpeg", encodeJPEG(t, grey), padded, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, cost, err := DecodeCost(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != w || cfg.Height != h {
				t.Fatalf("header %dx%d, want %dx%d", cfg.Width, cfg.Height, w, h)
			}
			if want := tc.want + 3*px; cost != want {
				t.Errorf("cost %d, want %d (%d decoded + %d RGB)", cost, want, tc.want, 3*px)
			}
			if !tc.decode {
				return
			}
			img, _, err := image.Decode(bytes.NewReader(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if got := decodedBytes(t, img); got > tc.want {
				t.Errorf("decoding allocated %d bytes (%T), more than the %d charged", got, img, tc.want)
			}
		})
	}
	if _, _, err := DecodeCost([]byte("not an image")); err == nil {
		t.Errorf("DecodeCost of junk: no error")
	}
}

// budgetProbe records, through a budget's test hook, the peak bytes in
// flight, whether they ever left [0, limit], and the total acquired.
type budgetProbe struct {
	mu             sync.Mutex
	prev, peak     int64
	acquired, over int64
}

func probe(b *DecodeBudget) *budgetProbe {
	p := &budgetProbe{}
	b.observe = func(n int64) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if n > p.prev {
			p.acquired += n - p.prev
		}
		p.prev = n
		p.peak = max(p.peak, n)
		if n < 0 || n > b.limit {
			p.over++
		}
	}
	return p
}

// budgetImages writes PNGs and JPEGs of several types and sizes to dir and
// returns their paths and the sum of their DecodeCost.
func budgetImages(t *testing.T, dir string) ([]string, int64) {
	var files []string
	var total int64
	for i, b := range [][]byte{
		encodePNG(t, patternImage(60, 40, 1)),
		encodeJPEG(t, patternImage(50, 70, 2)),
		encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 64, 64))),
		encodePNG(t, image.NewGray(image.Rect(0, 0, 90, 30))),
		encodePNG(t, patternImage(33, 33, 3)),
		encodeJPEG(t, patternImage(80, 45, 4)),
		encodePNG(t, image.NewGray16(image.Rect(0, 0, 40, 40))),
		encodePNG(t, patternImage(64, 48, 5)),
	} {
		_, cost, err := DecodeCost(b)
		if err != nil {
			t.Fatal(err)
		}
		total += cost
		p := filepath.Join(dir, fmt.Sprintf("%d.img", i))
		writeFile(t, p, b)
		files = append(files, p)
	}
	return files, total
}

// TestFolderDecodersShareTheBudget: the folder reader's workers charge
// every image its DecodeCost and never hold more than the budget between
// them; the pixels are those of an unbudgeted read.
func TestFolderDecodersShareTheBudget(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // 4 workers
	files, total := budgetImages(t, t.TempDir())
	const size = 16
	want := make([]byte, len(files)*size*size*3)
	if err := decodeAllWithin(files, size, want, nil); err != nil {
		t.Fatal(err)
	}
	_, largest, _ := DecodeCost(mustRead(t, files[2])) // the 16-bit RGBA one
	b := NewDecodeBudget(largest + largest/2)          // one large image at a time
	p := probe(b)
	got := make([]byte, len(want))
	if err := decodeAllWithin(files, size, got, b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the budgeted read decoded other pixels")
	}
	if p.over > 0 || p.peak > b.limit {
		t.Errorf("bytes in flight reached %d (left the budget %d times), budget %d", p.peak, p.over, b.limit)
	}
	if p.acquired != total {
		t.Errorf("acquired %d bytes in all, want the images' cost %d", p.acquired, total)
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still held", b.InFlight())
	}
}

// TestExampleDecodersShareTheBudget: the same for the TFRecord/TFDS
// decoders (the first record is decoded twice: once to size the set).
func TestExampleDecodersShareTheBudget(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	dir := t.TempDir()
	files, total := budgetImages(t, dir)
	var recs [][]byte
	for i, f := range files {
		recs = append(recs, encodeExample(map[string]exFeature{
			"image": bytesFeature(mustRead(t, f)), "label": int64Feature(int64(i)),
		}))
	}
	path := filepath.Join(dir, "x.tfrecord")
	writeFile(t, path, tfrecordFile(recs...))
	_, first, _ := DecodeCost(mustRead(t, files[0]))
	_, largest, _ := DecodeCost(mustRead(t, files[2]))
	b := NewDecodeBudget(largest + largest/2)
	p := probe(b)
	spec := exampleSpec{image: "image", label: "label", c: 3, resize: 16, budget: b}
	s, err := readExamples([]exampleShard{{path: path, count: -1}}, spec, path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readExamples([]exampleShard{{path: path, count: -1}}, exampleSpec{image: "image", label: "label", c: 3, resize: 16}, path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Pix, want.Pix) || !slices.Equal(s.Labels, want.Labels) {
		t.Errorf("the budgeted read decoded other pixels or labels")
	}
	if p.over > 0 || p.peak > b.limit {
		t.Errorf("bytes in flight reached %d (left the budget %d times), budget %d", p.peak, p.over, b.limit)
	}
	if p.acquired != total+first {
		t.Errorf("acquired %d bytes in all, want the images' cost %d + the first's %d", p.acquired, total, first)
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still held", b.InFlight())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImageOverTheBudgetIsRefused: an image needing more than the whole
// budget is refused before it is decoded, by every reader, with an error
// naming the file (and record) and the image's size.
func TestImageOverTheBudgetIsRefused(t *testing.T) {
	dir := t.TempDir()
	small := encodePNG(t, patternImage(20, 20, 1))
	big := encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 300, 200)))
	_, cost, err := DecodeCost(big)
	if err != nil {
		t.Fatal(err)
	}
	limit := cost - 1
	need := fmt.Sprintf("decoding needs %d bytes, more than the whole decode budget of %d bytes", cost, limit)

	t.Run("folder", func(t *testing.T) {
		files := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "big.png")}
		writeFile(t, files[0], small)
		writeFile(t, files[1], big)
		b := NewDecodeBudget(limit)
		err := decodeAllWithin(files, 8, make([]byte, 2*8*8*3), b)
		wantErr(t, err, files[1], "image is 300x200 pixels", need)
		if !errors.Is(err, ErrOverBudget) {
			t.Errorf("error %v does not match ErrOverBudget", err)
		}
		if b.InFlight() != 0 {
			t.Errorf("%d bytes still held", b.InFlight())
		}
	})
	t.Run("tfrecord", func(t *testing.T) {
		var recs [][]byte
		for _, img := range [][]byte{small, small, big} {
			recs = append(recs, encodeExample(map[string]exFeature{"image": bytesFeature(img)}))
		}
		path := filepath.Join(dir, "x.tfrecord")
		writeFile(t, path, tfrecordFile(recs...))
		spec := exampleSpec{image: "image", c: 3, resize: 8, budget: NewDecodeBudget(limit)}
		_, err := readExamples([]exampleShard{{path: path, count: -1}}, spec, path)
		var re *RecordError
		if !errors.As(err, &re) || re.File != path || re.Record != 2 {
			t.Fatalf("error %v, want a *RecordError for %s record 2", err, path)
		}
		wantErr(t, err, "image is 300x200 pixels", need)
	})
	t.Run("DecodeImageWithin", func(t *testing.T) {
		_, err := DecodeImageWithin(context.Background(), NewDecodeBudget(limit), big, "upload.png", 8, 0)
		wantErr(t, err, "upload.png", "image is 300x200 pixels", need)
		if !errors.Is(err, ErrOverBudget) {
			t.Errorf("error %v does not match ErrOverBudget", err)
		}
		// Within the budget it decodes as DecodeImage does.
		got, err := DecodeImageWithin(context.Background(), NewDecodeBudget(cost), big, "upload.png", 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeImage(big, "upload.png", 8, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("DecodeImageWithin differs from DecodeImage (%v)", err)
		}
	})
	t.Run("DecodeImageWithin cancelled while waiting", func(t *testing.T) {
		b := NewDecodeBudget(cost)
		if err := b.Acquire(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := DecodeImageWithin(ctx, b, big, "upload.png", 8, 0)
			done <- err
		}()
		waitQueued(t, b, 1)
		cancel()
		err := result(t, done, "DecodeImageWithin")
		wantErr(t, err, "upload.png")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
		if b.InFlight() != 1 {
			t.Errorf("%d bytes held, want the 1 taken before", b.InFlight())
		}
	})
}
