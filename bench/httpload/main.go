// Command httpload is the load test of simsiam serve's HTTP API: it exports
// a network (the demo preset's by default, at its initial weights, which
// cost as much to run as trained ones), serves it with serve.HTTPHandler on
// a loopback listener, sends -requests TensorFlow Serving :predict requests
// from -clients concurrent clients and reports throughput and latency
// percentiles, next to simsiam embed's batch throughput on the same model
// and images.
//
//	go run ./bench/httpload -requests 2000 -clients 16 -out bench/results-http.md
//
// Each request carries -images images as {"b64": PNG} (the default, what a
// TensorFlow Serving client sends) or as uint8 arrays (-format array).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simsiam-go/simsiam/configs"
	"github.com/simsiam-go/simsiam/export"
	"github.com/simsiam-go/simsiam/internal/sysinfo"
	"github.com/simsiam-go/simsiam/serve"
	"github.com/simsiam-go/simsiam/tfgraph"
	"github.com/simsiam-go/simsiam/train"
)

type result struct {
	Format        string             `json:"format"`
	Requests      int                `json:"requests"`
	Clients       int                `json:"clients"`
	ImagesPerReq  int                `json:"images_per_request"`
	Seconds       float64            `json:"seconds"`
	RequestsPerS  float64            `json:"requests_per_s"`
	ImagesPerS    float64            `json:"images_per_s"`
	P50ms         float64            `json:"p50_ms"`
	P90ms         float64            `json:"p90_ms"`
	P99ms         float64            `json:"p99_ms"`
	MaxMs         float64            `json:"max_ms"`
	Errors        int64              `json:"errors"`
	Runs          int64              `json:"session_runs"`
	MeanBatch     float64            `json:"mean_batch"`
	BatchSizes    map[int]int64      `json:"batch_sizes"`
	EmbedImagesS  float64            `json:"embed_images_per_s"`
	EmbedDecodedS float64            `json:"embed_with_decode_images_per_s"`
	Round         int                `json:"round"`
	Options       serve.BatchOptions `json:"-"`
}

func main() {
	preset := flag.String("preset", "fashion_mnist_demo", "network to export when -model is not given")
	modelDir := flag.String("model", "", "SavedModel to serve (default: export -preset's network at its initial weights)")
	requests := flag.Int("requests", 2000, "requests to send")
	clients := flag.Int("clients", 16, "concurrent clients")
	images := flag.Int("images", 1, "images per request")
	format := flag.String("format", "b64,array", "comma-separated request formats: b64 (PNG bytes) and/or array (uint8 [H][W][C])")
	d := serve.DefaultBatchOptions()
	flag.IntVar(&d.MaxBatch, "max-batch", d.MaxBatch, "simsiam serve --max-batch")
	flag.DurationVar(&d.Timeout, "batch-timeout", d.Timeout, "simsiam serve --batch-timeout")
	flag.IntVar(&d.MaxPending, "max-pending", d.MaxPending, "simsiam serve --max-pending")
	out := flag.String("out", "", "write a Markdown report here (and the JSON beside it)")
	rounds := flag.Int("rounds", 3, "rounds of (embed, then each format), interleaved; the report gives medians")
	flag.Parse()
	if err := run(*preset, *modelDir, *requests, *clients, *images, *rounds, strings.Split(*format, ","), d, *out); err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

func run(preset, modelDir string, requests, clients, perReq, rounds int, formats []string, bo serve.BatchOptions, out string) error {
	if requests < 1 || clients < 1 || perReq < 1 || rounds < 1 {
		return fmt.Errorf("-requests, -clients, -images and -rounds must be positive")
	}
	tmp, err := os.MkdirTemp("", "httpload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if modelDir == "" {
		if modelDir, err = exportInitial(preset, tmp); err != nil {
			return err
		}
	}
	m, err := serve.Load(modelDir, serve.WithBatchSize(bo.MaxBatch))
	if err != nil {
		return err
	}
	defer m.Close()
	size := 28
	if m.Meta != nil {
		size = m.Meta.ImageSize
	}
	// One PNG per request slot (different images, as real traffic has).
	const distinct = 64
	pngs := make([][]byte, distinct)
	var paths []string
	for i := range pngs {
		pngs[i] = randomPNG(size, uint64(i))
		p := filepath.Join(tmp, fmt.Sprintf("img%03d.png", i))
		if err := os.WriteFile(p, pngs[i], 0o644); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	decoded, err := m.ReadFiles(paths)
	if err != nil {
		return err
	}
	cpu := sysinfo.ReadCPU()
	bodies := map[string][][]byte{}
	for _, f := range formats {
		bodies[f] = make([][]byte, distinct)
		for i := range bodies[f] {
			var insts []any
			for k := 0; k < perReq; k++ {
				j := (i + k) % distinct
				if f == "b64" {
					insts = append(insts, map[string]string{"b64": base64.StdEncoding.EncodeToString(pngs[j])})
				} else if f == "array" {
					insts = append(insts, nestedImage(decoded.Pix[j*size*size*decoded.C:(j+1)*size*size*decoded.C], size, size, decoded.C))
				} else {
					return fmt.Errorf("unknown -format %q", f)
				}
			}
			if bodies[f][i], err = json.Marshal(map[string]any{"instances": insts}); err != nil {
				return err
			}
		}
	}
	load0 := loadAvg()
	all := map[string][]result{}
	for round := 0; round < rounds; round++ {
		embedS, embedDecS, err := embedThroughput(m, paths, requests*perReq)
		if err != nil {
			return err
		}
		for _, f := range formats {
			r, err := load(m, bo, bodies[f], requests, clients)
			if err != nil {
				return err
			}
			r.Format, r.ImagesPerReq, r.Round = f, perReq, round
			r.ImagesPerS = r.RequestsPerS * float64(perReq)
			r.EmbedImagesS, r.EmbedDecodedS = embedS, embedDecS
			all[f] = append(all[f], r)
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		}
	}
	var results []result
	for _, f := range formats {
		results = append(results, median(all[f]))
	}
	loads := [2]string{load0, loadAvg()}
	if out == "" {
		return nil
	}
	return report(out, cpu, modelDir, preset, bo, results, all, loads)
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// median picks, field by field, the median of the rounds (the lower one of
// an even count).
func median(rs []result) result {
	m := rs[0]
	pick := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	m.Seconds = pick(func(r result) float64 { return r.Seconds })
	m.RequestsPerS = pick(func(r result) float64 { return r.RequestsPerS })
	m.ImagesPerS = pick(func(r result) float64 { return r.ImagesPerS })
	m.P50ms = pick(func(r result) float64 { return r.P50ms })
	m.P90ms = pick(func(r result) float64 { return r.P90ms })
	m.P99ms = pick(func(r result) float64 { return r.P99ms })
	m.MaxMs = pick(func(r result) float64 { return r.MaxMs })
	m.MeanBatch = pick(func(r result) float64 { return r.MeanBatch })
	m.EmbedImagesS = pick(func(r result) float64 { return r.EmbedImagesS })
	m.EmbedDecodedS = pick(func(r result) float64 { return r.EmbedDecodedS })
	m.Round = -1
	return m
}

// exportInitial exports the preset's network at its initial weights.
func exportInitial(preset, dir string) (string, error) {
	cfg, err := configs.Load(configs.LoadOptions{Preset: preset})
	if err != nil {
		return "", err
	}
	st, err := train.BuildStep(cfg, train.StepOptions{StepsPerEpoch: 1, TotalSteps: 1})
	if err != nil {
		return "", err
	}
	sess, err := train.NewSession(st, tfgraph.SessionOptions{})
	if err != nil {
		return "", err
	}
	defer sess.Close()
	prefix := filepath.Join(dir, "ckpt", "ckpt-0")
	if err := st.Saver.Save(sess.Session, prefix); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "models", preset, "1")
	return out, export.Export(cfg, prefix, out, false)
}

func randomPNG(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			v := uint8(r.IntN(256))
			img.Set(x, y, color.NRGBA{v, v, uint8(r.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func nestedImage(pix []byte, h, w, c int) [][][]int {
	out := make([][][]int, h)
	i := 0
	for y := range out {
		out[y] = make([][]int, w)
		for x := range out[y] {
			out[y][x] = make([]int, c)
			for k := range out[y][x] {
				out[y][x][k] = int(pix[i])
				i++
			}
		}
	}
	return out
}

// embedThroughput is simsiam embed's path on n images: Model.EmbedImages
// in batches of 64 (embed's default) on decoded pixels, and with the PNG
// decoding (Model.ReadFiles) included.
func embedThroughput(m *serve.Model, paths []string, n int) (float64, float64, error) {
	e, err := serve.Load(m.Dir())
	if err != nil {
		return 0, 0, err
	}
	defer e.Close()
	var files []string
	for len(files) < n {
		files = append(files, paths...)
	}
	files = files[:n]
	if _, err := e.EmbedFiles(files[:64]); err != nil { // warm-up
		return 0, 0, err
	}
	t := time.Now()
	imgs, err := e.ReadFiles(files)
	if err != nil {
		return 0, 0, err
	}
	tDecode := time.Since(t)
	t = time.Now()
	if _, err := e.EmbedImages(imgs); err != nil {
		return 0, 0, err
	}
	tRun := time.Since(t)
	return float64(n) / tRun.Seconds(), float64(n) / (tRun + tDecode).Seconds(), nil
}

// load serves m on loopback and sends the requests.
func load(m *serve.Model, bo serve.BatchOptions, bodies [][]byte, requests, clients int) (result, error) {
	h, err := serve.NewHTTPHandler(m, serve.HTTPOptions{Name: "m", Version: 1, Batch: bo})
	if err != nil {
		return result{}, err
	}
	defer h.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/v1/models/m:predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: 60 * time.Second}
	send := func(b []byte) error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	}
	for i := 0; i < 2*clients; i++ { // warm-up: connections, first runs
		if err := send(bodies[i%len(bodies)]); err != nil {
			return result{}, err
		}
	}
	before := h.Stats()
	lat := make([]time.Duration, requests)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= requests {
					return
				}
				t := time.Now()
				if err := send(bodies[i%len(bodies)]); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if e := firstErr.Load(); e != nil {
		return result{}, fmt.Errorf("%d failed requests, the first: %s", errs.Load(), e)
	}
	after := h.Stats()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	r := result{
		Requests: requests, Clients: clients, Seconds: elapsed.Seconds(),
		RequestsPerS: float64(requests) / elapsed.Seconds(),
		P50ms:        pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), MaxMs: float64(lat[len(lat)-1].Microseconds()) / 1000,
		Errors: errs.Load(), Runs: after.Runs - before.Runs, BatchSizes: map[int]int64{}, Options: bo,
	}
	for k, v := range after.Sizes {
		if d := v - before.Sizes[k]; d > 0 {
			r.BatchSizes[k] = d
		}
	}
	if r.Runs > 0 {
		r.MeanBatch = float64(after.Images-before.Images) / float64(r.Runs)
	}
	return r, nil
}

func report(out string, cpu sysinfo.CPU, modelDir, preset string, bo serve.BatchOptions, rs []result, all map[string][]result, loads [2]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# simsiam serve under load (bench/httpload)\n\n")
	fmt.Fprintf(&b, "Measured on: %s, GOMAXPROCS %d, TensorFlow's default CPU kernels (as `simsiam serve` runs), %s.\n\n", cpu, runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02"))
	what := "model " + modelDir
	if strings.HasPrefix(modelDir, os.TempDir()) {
		what = "the `" + preset + "` preset's network at its initial weights, exported with export.Export"
	}
	fmt.Fprintf(&b, "Model: %s. Server: serve.HTTPHandler (what `simsiam serve` runs) on a 127.0.0.1 listener, "+
		"`--max-batch %d --batch-timeout %v --max-pending %d`; clients: Go net/http in the same process, keep-alive connections.\n\n",
		what, bo.MaxBatch, bo.Timeout, bo.MaxPending)
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s, at the end: %s (2 cores: anything above 2 means other processes shared the CPU). "+
		"Medians of %d interleaved rounds (embed, then each format).\n\n", loads[0], loads[1], len(all[rs[0].Format]))
	fmt.Fprintf(&b, "| request format | requests × images | clients | requests/s | images/s | p50 ms | p90 ms | p99 ms | max ms | Session.Runs | mean batch |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d × %d | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %.1f |\n",
			r.Format, r.Requests, r.ImagesPerReq, r.Clients, r.RequestsPerS, r.ImagesPerS, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.Runs, r.MeanBatch)
	}
	fmt.Fprintf(&b, "\n`simsiam embed`'s path on the same model and images (Model.ReadFiles, then Model.EmbedImages in batches of 64): "+
		"%.0f images/s for the model alone, %.0f images/s with the PNG decoding.\n", rs[0].EmbedImagesS, rs[0].EmbedDecodedS)
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(map[string]any{"cpu": cpu.String(), "loadavg": loads, "medians": rs, "rounds": all}, "", "  ")
	return os.WriteFile(strings.TrimSuffix(out, filepath.Ext(out))+".json", append(j, '\n'), 0o644)
}
