package serve

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/data"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/testutil"
	"github.com/simsiam-go/simsiam/internal/testutil/trainfix"
	"github.com/simsiam-go/simsiam/model"
	"github.com/simsiam-go/simsiam/tfgraph"
)

// tinyConfig: ResNet-18, CIFAR stem, width 4, 16x16 images, proj 16/16,
// pred 8.
func tinyConfig() *configs.Config {
	c := testutil.TinyConfig()
	c.Seed = 5
	c.Data.Mean = []float64{0.45, 0.5, 0.55}
	c.Data.Std = []float64{0.22, 0.25, 0.28}
	c.Model.ZeroInitResidual = false
	c.Optim.BatchSize = 4
	return c
}

// fixture is one exported tiny model shared by the tests of this package.
type fixture struct {
	cfg       *configs.Config
	ckpt, dir string
	err       error
	once      sync.Once
	tmp       string
}

var fx fixture

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{fx.tmp, grey28.tmp} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// exported builds (once) a checkpoint after one training step on random
// views, and exports it.
func exported(t *testing.T) *fixture {
	t.Helper()
	fx.once.Do(func() {
		fx.cfg = tinyConfig()
		fx.tmp, fx.err = os.MkdirTemp("", "serve-test-")
		if fx.err != nil {
			return
		}
		fx.ckpt = filepath.Join(fx.tmp, "ckpt", "ckpt-1")
		if fx.err = trainfix.WriteCheckpoint(fx.cfg, fx.ckpt, 1, 8, 9); fx.err != nil {
			return
		}
		fx.dir = filepath.Join(fx.tmp, "model")
		fx.err = export.Export(fx.cfg, fx.ckpt, fx.dir, false)
	})
	if fx.err != nil {
		t.Fatal(fx.err)
	}
	return &fx
}

func randomPix(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// direct runs the backbone in inference mode in a graph restored from the
// checkpoint, on images at the model's size normalised in Go.
func direct(t *testing.T, cfg *configs.Config, ckpt string, pix []byte, n int) [][]float32 {
	t.Helper()
	g := tfgraph.NewGraph()
	net, err := model.New(g, cfg.Model, 3, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	s := int64(cfg.Data.ImageSize)
	x := g.Root().Placeholder("x", tfgraph.Float, []int64{-1, s, s, 3})
	h := net.Backbone.Apply(g.Root().Child("encoder"), x, tfgraph.Inference)
	sv := tfgraph.NewSaver(g, "save", g.Variables())
	sess := testutil.Session(t, g)
	if err := sv.RestoreFrom(sess, ckpt); err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(pix))
	for i, p := range pix {
		c := i % 3
		v[i] = (float32(p)*float32(1.0/255) - float32(cfg.Data.Mean[c])) / float32(cfg.Data.Std[c])
	}
	xt, err := tfgraph.NewTensor(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := xt.Reshape([]int64{int64(n), s, s, 3}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(map[tfgraph.Output]*tfgraph.Tensor{x: xt}, []tfgraph.Output{h})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Value().([][]float32)
}

func maxDiff(t *testing.T, a, b [][]float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows vs %d", len(a), len(b))
	}
	m := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("row %d: %d values vs %d", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			m = math.Max(m, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return m
}

func TestEmbedMatchesDirectBackbone(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir, WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Channels() != 3 || m.Meta == nil || m.Meta.FeatureDim != 32 || m.HasClassifier() {
		t.Errorf("channels %d meta %+v classifier %v", m.Channels(), m.Meta, m.HasClassifier())
	}
	const n = 5 // three runs of at most 2
	pix := randomPix(1, n*16*16*3)
	got, err := m.Embed(pix, n, 16, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := direct(t, f.cfg, f.ckpt, pix, n)
	d := maxDiff(t, got, want)
	t.Logf("max |serve.Embed - direct backbone| = %.3g", d)
	if d > 1e-5 {
		t.Errorf("embeddings differ by %g", d)
	}
	// EmbedImages on the same pixels gives the same rows.
	imgs := &data.Images{N: n, H: 16, W: 16, C: 3, Pix: pix}
	got2, err := m.EmbedImages(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, got, got2); d > 1e-6 {
		t.Errorf("EmbedImages differs from Embed by %g", d)
	}
	// Other image sizes go through the in-graph resize.
	big, err := m.Embed(randomPix(2, 3*40*28*3), 3, 40, 28, 3)
	if err != nil || len(big) != 3 || len(big[0]) != 32 {
		t.Errorf("40x28 images: %v rows, %v", len(big), err)
	}
	empty, err := m.Embed(nil, 0, 16, 16, 3)
	if err != nil || len(empty) != 0 {
		t.Errorf("no images: %v %v", empty, err)
	}
}

func TestEmbedValidation(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		pix        []byte
		n, h, w, c int
		want       string
	}{
		{make([]byte, 2*16*16), 2, 16, 16, 1, "expects 3 channels, got 1 (repeat grey images to RGB"},
		{make([]byte, 2*16*16*4), 2, 16, 16, 4, "expects 3 channels, got 4"},
		{nil, 2, 0, 16, 3, "image size 0x16"},
		{nil, 2, 16, 0, 3, "image size 16x0"},
		{make([]byte, 10), 2, 16, 16, 3, "got 10 bytes of pixels, expected n*h*w*c = 2*16*16*3 = 1536"},
		{nil, -1, 16, 16, 3, "-1 images"},
	} {
		_, err := m.Embed(c.pix, c.n, c.h, c.w, c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Embed(n=%d %dx%dx%d): %v, want %q", c.n, c.h, c.w, c.c, err, c.want)
		}
	}
	grey := &data.Images{N: 1, H: 16, W: 16, C: 1, Pix: make([]byte, 256)}
	if _, err := m.EmbedImages(grey); err == nil || !strings.Contains(err.Error(), "ToRGB") {
		t.Errorf("grey data set: %v", err)
	}
	if _, err := m.EmbedImages(grey.ToRGB()); err != nil {
		t.Errorf("grey data set made RGB: %v", err)
	}
	if _, err := m.Predict(make([]byte, 768), 1, 16, 16, 3); err == nil || !strings.Contains(err.Error(), "no classify signature") {
		t.Errorf("Predict without a classifier: %v", err)
	}
	if _, err := Load(f.dir, WithBatchSize(0)); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestLoadErrors(t *testing.T) {
	f := exported(t)
	root := t.TempDir()
	if _, err := Load(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "not a SavedModel: directory does not exist") {
		t.Errorf("missing dir: %v", err)
	}
	corrupt := filepath.Join(root, "corrupt")
	if err := os.CopyFS(corrupt, os.DirFS(f.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "saved_model.pb"), []byte("this is not a protobuf \xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(corrupt); err == nil || !strings.Contains(err.Error(), "saved_model.pb is corrupt") {
		t.Errorf("corrupt saved_model.pb: %v", err)
	}
}

func TestConcurrentEmbed(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir, WithBatchSize(3))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const workers, calls, n = 6, 3, 4
	inputs := make([][]byte, workers)
	want := make([][][]float32, workers)
	for i := range inputs {
		inputs[i] = randomPix(uint64(100+i), n*16*16*3)
		if want[i], err = m.Embed(inputs[i], n, 16, 16, 3); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for c := 0; c < calls; c++ {
				got, err := m.Embed(inputs[i], n, 16, 16, 3)
				if err != nil {
					errs <- err
					return
				}
				for r := range got {
					for j := range got[r] {
						if math.Abs(float64(got[r][j]-want[i][r][j])) > 1e-6 {
							errs <- fmt.Errorf("worker %d call %d: row %d differs", i, c, r)
							return
						}
					}
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func writePNG(t *testing.T, path string, w, h int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedFilesAndFolder(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir, WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "b.png"), 16, 16, 1)
	writePNG(t, filepath.Join(dir, "a", "x.png"), 30, 20, 2)
	writePNG(t, filepath.Join(dir, "c.PNG"), 17, 40, 3)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("skip me"), 0o644)
	writePNG(t, filepath.Join(dir, ".hidden.png"), 16, 16, 4)

	paths, emb, err := m.EmbedFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{filepath.Join(dir, "a", "x.png"), filepath.Join(dir, "b.png"), filepath.Join(dir, "c.PNG")}
	if strings.Join(paths, "|") != strings.Join(wantPaths, "|") {
		t.Fatalf("paths %v, want %v", paths, wantPaths)
	}
	// Same as decoding each file at its own size with the data package
	// and letting the graph resize it (Embed), as the HTTP server does.
	var ref [][]float32
	for _, p := range wantPaths {
		pix, h, w := decodeFileRGB(t, p)
		row, err := m.Embed(pix, 1, h, w, 3)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, row...)
	}
	if d := maxDiff(t, emb, ref); d > 1e-6 {
		t.Errorf("EmbedFolder differs from DecodeFull+Embed by %g", d)
	}
	// The 16x16 file, already the model's size, is what the folder reader
	// gives too.
	imgs, err := data.ReadFiles([]string{wantPaths[1]}, 16)
	if err != nil {
		t.Fatal(err)
	}
	same, err := m.EmbedImages(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, [][]float32{emb[1]}, same); d > 1e-6 {
		t.Errorf("a 16x16 file: EmbedFolder differs from ReadFiles+EmbedImages by %g", d)
	}
	// EmbedFiles keeps the caller's order.
	rev, err := m.EmbedFiles([]string{wantPaths[2], wantPaths[0]})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, rev, [][]float32{emb[2], emb[0]}); d > 1e-6 {
		t.Errorf("EmbedFiles order: %g", d)
	}
	// Errors name the caller's file.
	bad := filepath.Join(dir, "broken.png")
	os.WriteFile(bad, []byte("not a png"), 0o644)
	if _, err := m.EmbedFiles([]string{wantPaths[0], bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt file: %v", err)
	}
	if _, err := m.EmbedFiles([]string{filepath.Join(dir, "notes.txt")}); err == nil || !strings.Contains(err.Error(), "notes.txt: not a .jpg") {
		t.Errorf("text file: %v", err)
	}
	if _, err := m.EmbedFiles([]string{filepath.Join(dir, "gone.png")}); err == nil || !strings.Contains(err.Error(), "gone.png") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := m.EmbedFolder(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .jpg") {
		t.Errorf("empty folder: %v", err)
	}
}

// classifierModel exports a linear-evaluation style checkpoint (encoder/*
// of the tiny model and a 3-class classifier/*) with the classify
// signature, and returns its folder.
func classifierModel(t *testing.T) string {
	t.Helper()
	f := exported(t)
	g := tfgraph.NewGraph()
	net, err := model.New(g, f.cfg.Model, 3, f.cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	head := tfgraph.NewDense(g.Root().Child("classifier"), net.Backbone.FeatureDim(), 3, true, 21)
	vars := []*tfgraph.Variable{head.Kernel, head.Bias}
	for _, v := range g.Variables() {
		if strings.HasPrefix(v.Key, "encoder/") {
			vars = append(vars, v)
		}
	}
	prefix := filepath.Join(t.TempDir(), "linear-1")
	testutil.SaveCheckpoint(t, g, vars, prefix)
	dir := filepath.Join(t.TempDir(), "clf")
	if err := export.ExportClassifier(f.cfg, prefix, dir, false, export.Classifier{ClassNames: []string{"cat", "dog", "eel"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPredict(t *testing.T) {
	dir := classifierModel(t)
	names := []string{"cat", "dog", "eel"}
	m, err := Load(dir, WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.HasClassifier() || strings.Join(m.ClassNames(), ",") != "cat,dog,eel" {
		t.Fatalf("classifier %v names %v", m.HasClassifier(), m.ClassNames())
	}
	const n = 5
	pix := randomPix(7, n*20*20*3)
	preds, err := m.Predict(pix, n, 20, 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != n {
		t.Fatalf("%d predictions", len(preds))
	}
	for i, p := range preds {
		sum, best := 0.0, 0
		for j, q := range p.Probabilities {
			sum += float64(q)
			if q > p.Probabilities[best] {
				best = j
			}
		}
		if math.Abs(sum-1) > 1e-5 || p.Class != best || p.Name != names[best] || len(p.Probabilities) != 3 {
			t.Errorf("prediction %d: %+v", i, p)
		}
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rows := [][]float32{{1, -2.5, float32(math.Inf(1))}, {0, 3.25, 1e-7}}
	p := filepath.Join(dir, "a.npy")
	if err := WriteNPY(p, rows); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b[:8]) != "\x93NUMPY\x01\x00" {
		t.Errorf("magic %q", b[:8])
	}
	hlen := int(b[8]) | int(b[9])<<8
	if (10+hlen)%64 != 0 || b[10+hlen-1] != '\n' {
		t.Errorf("header length %d", hlen)
	}
	if h := string(b[10 : 10+hlen]); !strings.HasPrefix(h, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") {
		t.Errorf("header %q", h)
	}
	if len(b) != 10+hlen+4*6 {
		t.Errorf("file is %d bytes", len(b))
	}
	a, err := ReadNPY(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := a.Rows()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		for j := range rows[i] {
			if back[i][j] != rows[i][j] {
				t.Errorf("[%d][%d] = %v, want %v", i, j, back[i][j], rows[i][j])
			}
		}
	}
	u := filepath.Join(dir, "u.npy")
	if err := WriteNPYUint8(u, []int{2, 1, 2, 1}, []byte{1, 2, 3, 255}); err != nil {
		t.Fatal(err)
	}
	ua, err := ReadNPY(u)
	if err != nil || fmt.Sprint(ua.Shape) != "[2 1 2 1]" || string(ua.Uint8) != "\x01\x02\x03\xff" {
		t.Errorf("uint8 round trip: %+v %v", ua, err)
	}
	one := filepath.Join(dir, "one.npy")
	if err := WriteNPYFloat32(one, []int{3}, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if a, err := ReadNPY(one); err != nil || fmt.Sprint(a.Shape) != "[3]" {
		t.Errorf("1-D: %+v %v", a, err)
	}
	if err := WriteNPY(p, [][]float32{{1}, {1, 2}}); err == nil {
		t.Error("ragged rows accepted")
	}
	if err := WriteNPYFloat32(p, []int{2, 2}, []float32{1}); err == nil {
		t.Error("shape/value mismatch accepted")
	}
	for _, bad := range [][]byte{nil, []byte("\x93NUMPY\x01\x00\xff\x00{"), append(b[:len(b)-1:len(b)-1], []byte{}...)} {
		if _, err := parseNPY(bad); err == nil {
			t.Errorf("parseNPY(%q) succeeded", bad)
		}
	}
}

func TestGreyModel(t *testing.T) {
	cfg := tinyConfig()
	cfg.Data.Channels = 1
	cfg.Data.Mean, cfg.Data.Std = []float64{0.5}, []float64{0.25}
	ckpt := trainfix.Checkpoint(t, cfg, filepath.Join(t.TempDir(), "ckpt-0"), 0, 0, 0)
	dir := filepath.Join(t.TempDir(), "grey")
	if err := export.Export(cfg, ckpt, dir, false); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Channels() != 1 {
		t.Fatalf("channels %d", m.Channels())
	}
	if _, err := m.Embed(make([]byte, 16*16*3), 1, 16, 16, 3); err == nil || !strings.Contains(err.Error(), "expects 1 channels, got 3") {
		t.Errorf("RGB into a grey model: %v", err)
	}
	// Files are decoded to RGB by the data package and converted to grey.
	png := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, png, 16, 16, 9)
	rows, err := m.EmbedFiles([]string{png})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := data.ReadFolder(filepath.Dir(png), 16, false)
	if err != nil {
		t.Fatal(err)
	}
	grey := toGrey(imgs)
	for i := range grey.Pix {
		r, g, b := float64(imgs.Pix[3*i]), float64(imgs.Pix[3*i+1]), float64(imgs.Pix[3*i+2])
		if want := math.Round(0.2989*r + 0.587*g + 0.114*b); math.Abs(float64(grey.Pix[i])-want) > 1 {
			t.Fatalf("grey pixel %d = %d, want %v", i, grey.Pix[i], want)
		}
	}
	ref, err := m.Embed(grey.Pix, 1, 16, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, rows, ref); d > 1e-6 {
		t.Errorf("EmbedFiles on a grey model differs by %g", d)
	}
}

// TestWriteEmbeddings: the .npy and its .txt are written together; a
// missing folder fails before anything is written, and a .txt that cannot
// be replaced leaves the old .npy as it was.
func TestWriteEmbeddings(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "e.npy")
	rows := [][]float32{{1, 2}, {3, 4}}
	if err := WriteEmbeddings(out, []string{"a.png", "b.png"}, rows); err != nil {
		t.Fatal(err)
	}
	a, err := ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Rows(); maxDiff(t, got, rows) != 0 {
		t.Errorf("rows %v", got)
	}
	if b, _ := os.ReadFile(out + ".txt"); string(b) != "a.png\nb.png\n" {
		t.Errorf(".txt %q", b)
	}
	for _, c := range []struct {
		name, path, want string
		setup            func(p string)
	}{
		{"missing folder", filepath.Join(dir, "missing", "e.npy"), "no such file or directory", nil},
		{"a folder as output", filepath.Join(dir, "d"), "is a folder", func(p string) { os.Mkdir(p, 0o755) }},
		{".txt cannot be replaced", out, "e.npy.txt", func(p string) {
			os.Remove(p + ".txt")
			os.MkdirAll(filepath.Join(p+".txt", "x"), 0o755)
		}},
	} {
		if c.setup != nil {
			c.setup(c.path)
		}
		if err := WriteEmbeddings(c.path, []string{"z.png"}, [][]float32{{9, 9}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err := CheckOutput(c.path); c.name != ".txt cannot be replaced" && err == nil {
			t.Errorf("%s: CheckOutput passed", c.name)
		}
	}
	// The old .npy survived the failed .txt.
	a, err = ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Rows(); maxDiff(t, got, rows) != 0 {
		t.Errorf("after a failed write the .npy holds %v, want the old %v", got, rows)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("the missing folder was created")
	}
}

// decodeFileRGB decodes the image file p at its own size to RGB, as the
// server decodes a b64 image (data.DecodeFull).
func decodeFileRGB(t *testing.T, p string) (pix []byte, h, w int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pix, h, w, err = data.DecodeFull(b, p, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pix, h, w
}
