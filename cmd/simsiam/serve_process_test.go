package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/internal/testutil/trainfix"
	"github.com/simsiam-go/simsiam/serve"
)

// tinySets shrink the demo preset's network (grey 28x28 images) for tests.
var tinySets = []string{"--set", "model.width=4", "--set", "model.proj_dim=16", "--set", "model.proj_hidden=16", "--set", "model.pred_hidden=8"}

// tinyCheckpoint writes the initial weights of the tiny network as a
// training checkpoint and returns its prefix.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	var sets []string
	for i := 1; i < len(tinySets); i += 2 {
		sets = append(sets, tinySets[i])
	}
	cfg, err := configs.Load(configs.LoadOptions{Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	return trainfix.Checkpoint(t, cfg, filepath.Join(t.TempDir(), "ckpt", "ckpt-0"), 0, 0, 0)
}

func writeTestPNG(t *testing.T, path string, w, h int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var servingLine = regexp.MustCompile(`^simsiam: serving (\S+) version (\d+) .* at (http://127\.0\.0\.1:\d+)/v1/models/`)

// TestServeProcess runs the real commands: export into TensorFlow
// Serving's layout (models/tiny/1), embed, and serve. The HTTP embeddings
// of PNG files equal embed's .npy exactly; SIGTERM lets a request that waits
// in an open batch finish, then the process exits 0.
func TestServeProcess(t *testing.T) {
	ckpt := tinyCheckpoint(t)
	root := t.TempDir()
	base := filepath.Join(root, "models", "tiny")
	ex := startChild(t, nil, append([]string{"export", "--checkpoint", ckpt, "--out", filepath.Join(base, "1")}, tinySets...)...)
	if code := ex.wait(120 * time.Second); code != 0 {
		_, errs := ex.output()
		t.Fatalf("export: status %d\n%s", code, errs)
	}

	imgs := filepath.Join(root, "imgs")
	os.MkdirAll(imgs, 0o755)
	var b64 []any
	for i, sz := range [][2]int{{28, 28}, {40, 31}, {17, 60}} {
		b := writeTestPNG(t, filepath.Join(imgs, fmt.Sprintf("%d.png", i)), sz[0], sz[1], uint64(i))
		b64 = append(b64, map[string]string{"b64": base64.StdEncoding.EncodeToString(b)})
	}
	npy := filepath.Join(root, "emb.npy")
	em := startChild(t, nil, "embed", "--model", filepath.Join(base, "1"), "--images", imgs, "--out", npy)
	if code := em.wait(120 * time.Second); code != 0 {
		_, errs := em.output()
		t.Fatalf("embed: status %d\n%s", code, errs)
	}
	arr, err := serve.ReadNPY(npy)
	if err != nil {
		t.Fatal(err)
	}
	want, err := arr.Rows()
	if err != nil {
		t.Fatal(err)
	}

	// A batch runs only when full or after an hour: a lone request waits
	// in its open batch until the shutdown runs it.
	c := startChild(t, nil, "serve", "--model", base, "--port", "0", "--max-batch", "64", "--batch-timeout", "1h")
	m := servingLine.FindStringSubmatch(c.waitLine(servingLine, 120*time.Second))
	if m[1] != "tiny" || m[2] != "1" {
		t.Fatalf("serving %s version %s, want tiny version 1", m[1], m[2])
	}
	url := m[3]
	results := make(chan string, 1)
	go func() {
		body, _ := json.Marshal(map[string]any{"instances": b64})
		resp, err := http.Post(url+"/v1/models/tiny:predict", "application/json", bytes.NewReader(body))
		if err != nil {
			results <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		var out struct {
			Predictions [][]float32 `json:"predictions"`
			Error       string      `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			results <- fmt.Sprintf("status %d %v %s", resp.StatusCode, err, out.Error)
			return
		}
		if len(out.Predictions) != len(want) {
			results <- fmt.Sprintf("%d rows, want %d", len(out.Predictions), len(want))
			return
		}
		for i := range want {
			for j := range want[i] {
				if out.Predictions[i][j] != want[i][j] {
					results <- fmt.Sprintf("[%d][%d] = %v, simsiam embed wrote %v", i, j, out.Predictions[i][j], want[i][j])
					return
				}
			}
		}
		results <- "ok"
	}()
	// Wait until the request is inside the batcher.
	var health struct {
		Pending int `json:"pending"`
	}
	for i := 0; i < 600 && health.Pending < 1; i++ {
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
	}
	if health.Pending != 1 {
		t.Fatalf("the request never reached the batcher (pending %d)", health.Pending)
	}
	select {
	case r := <-results:
		t.Fatalf("answered before the shutdown, with an hour-long batch timeout: %s", r)
	default:
	}
	c.signal(syscall.SIGTERM)
	select {
	case r := <-results:
		if r != "ok" {
			t.Errorf("in-flight request: %s", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the in-flight request was not answered within 60 s of SIGTERM")
	}
	if code := c.wait(60 * time.Second); code != 0 {
		out, errs := c.output()
		t.Fatalf("serve exited %d after SIGTERM, want 0\n%s\n%s", code, out, errs)
	}
	out, _ := c.output()
	// The three PNGs have three sizes, decoded at their own size for the
	// graph to resize: one batch per size.
	if !strings.Contains(out, "simsiam: serve stopped (got SIGTERM): 3 images in 3 batches served") {
		t.Errorf("stdout:\n%s", out)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the port still answers after the exit")
	}
}

// TestServeUsageErrors: a missing model or flag is a clear usage error.
func TestServeUsageErrors(t *testing.T) {
	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, "v1"), 0o755)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "serve: --model is required"},
		{[]string{"serve", "--model", empty, "--port", "70000"}, "--port 70000"},
		{[]string{"serve", "--model", empty, "--read-timeout", "0s"}, "--read-timeout 0s"},
		{[]string{"serve", "--model", filepath.Join(empty, "gone")}, "does not exist"},
		{[]string{"serve", "--model", empty}, "neither a SavedModel"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), c.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestEmbedErrors: embed checks --out before any work, and its errors
// start with "embed:" (not the serve package's "serve:").
func TestEmbedErrors(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(imgs, 0o755)
	writeTestPNG(t, filepath.Join(imgs, "a.png"), 8, 8, 1)
	notModel := filepath.Join(dir, "not-a-model")
	os.MkdirAll(notModel, 0o755)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing output folder", []string{"embed", "--model", filepath.Join(dir, "gone"), "--images", imgs, "--out", filepath.Join(dir, "missing", "dir", "e.npy")}, "embed: output " + filepath.Join(dir, "missing", "dir", "e.npy") + ": its folder"},
		{"output is a folder", []string{"embed", "--model", filepath.Join(dir, "gone"), "--images", imgs, "--out", imgs}, "embed: output " + imgs + " is a folder"},
		{"not a SavedModel", []string{"embed", "--model", notModel, "--images", imgs, "--out", filepath.Join(dir, "e.npy")}, "embed: "},
	} {
		var out bytes.Buffer
		err := run(t.Context(), c.args, &out, &out)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "serve:") {
			t.Errorf("%s: %v, want an error starting %q without \"serve:\"", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("embed created the missing output folder")
	}
}
