package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/simsiam-go/simsiam/serve"
)

// serveFlags are simsiam serve's settings.
type serveFlags struct {
	model, host, name  string
	port               int
	batch              serve.BatchOptions
	maxBody, maxPixels int64
	maxDecode          int64
	readHeaderTimeout  time.Duration
	readTimeout        time.Duration
	writeTimeout       time.Duration
	idleTimeout        time.Duration
	shutdownTimeout    time.Duration
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	d := serve.DefaultBatchOptions()
	so := serve.DefaultServerOptions()
	fs.StringVar(&f.model, "model", "", "model base folder with integer version sub-folders (TensorFlow Serving's layout; the highest version is served), or one SavedModel folder (served as version 1)")
	fs.StringVar(&f.host, "host", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	fs.IntVar(&f.port, "port", 8501, "TCP port (TensorFlow Serving's REST port; 0 picks a free one)")
	fs.StringVar(&f.name, "name", "", "model name in the URLs /v1/models/NAME (default: the --model folder's name)")
	fs.IntVar(&f.batch.MaxBatch, "max-batch", d.MaxBatch, "most images per Session.Run; concurrent requests are merged up to it")
	fs.DurationVar(&f.batch.Timeout, "batch-timeout", d.Timeout, "how long a batch waits for more requests before it runs (0: run at once)")
	fs.IntVar(&f.batch.MaxPending, "max-pending", d.MaxPending, "requests waiting or running at once; more get 503")
	fs.IntVar(&f.batch.Threads, "batch-threads", d.Threads, "batches run at the same time")
	fs.Int64Var(&f.maxBody, "max-body-bytes", serve.DefaultMaxBodyBytes, "largest request body; larger ones get 413")
	fs.Int64Var(&f.maxPixels, "max-image-pixels", serve.DefaultMaxImagePixels, "largest encoded image (width x height) accepted")
	fs.Int64Var(&f.maxDecode, "max-decode-bytes", serve.DefaultMaxDecodeBytes, "memory budget for decoding and preprocessing the images of all requests under way, counted from the image headers before decoding; requests beyond it get 503 (413 when one can never fit)")
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", so.ReadHeaderTimeout, "time a client has to send the request headers")
	fs.DurationVar(&f.readTimeout, "read-timeout", so.ReadTimeout, "time a client has to send the whole request")
	fs.DurationVar(&f.writeTimeout, "write-timeout", so.WriteTimeout, "time from the end of the headers to the end of the response")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", so.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", so.ShutdownTimeout, "on SIGINT/SIGTERM/SIGHUP, how long requests under way may take to finish")
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", `Usage: simsiam serve --model DIR [flags]

Serves a SavedModel over HTTP with TensorFlow Serving's REST API, so clients
written for TensorFlow Serving work unchanged:
  GET  /v1/models/NAME[/versions/V]            status
  GET  /v1/models/NAME[/versions/V]/metadata   signatures, dtypes, shapes
  POST /v1/models/NAME[/versions/V]:predict    {"signature_name": ..., "instances": [...]} or {"inputs": ...}
  GET  /healthz
Images are {"b64": "..."} PNG/JPEG bytes (decoded at their own size, as
simsiam embed decodes files) or uint8 [height][width][channels] arrays; the
model's graph resizes both the same way (the shorter side to round(S*256/224)
when it is over 1.1*S, else to S, then the centre S x S crop; S is the
model's image size), so both forms of one image give the same embedding. Concurrent requests are
merged into batches of up to --max-batch images. SIGINT, SIGTERM or SIGHUP
stops accepting connections and finishes the requests under way.

Examples:
  simsiam export --config runs/x/config.yaml --checkpoint runs/x/checkpoints --out models/simsiam/1
  simsiam serve --model models/simsiam --port 8501
  curl -d '{"instances": [{"b64": "'"$(base64 -w0 shirt.png)"'"}]}' http://127.0.0.1:8501/v1/models/simsiam:predict

Flags:
`, stderr)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.model == "" {
		return usageError{errors.New("serve: --model is required")}
	}
	if f.port < 0 || f.port > 65535 {
		return usageError{fmt.Errorf("serve: --port %d, want 0..65535", f.port)}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", f.readHeaderTimeout}, {"read-timeout", f.readTimeout}, {"write-timeout", f.writeTimeout}, {"idle-timeout", f.idleTimeout}, {"shutdown-timeout", f.shutdownTimeout}} {
		if d.v <= 0 {
			return usageError{fmt.Errorf("serve: --%s %v, want a positive duration", d.name, d.v)}
		}
	}
	if f.maxBody <= 0 || f.maxPixels <= 0 || f.maxDecode <= 0 {
		return usageError{errors.New("serve: --max-body-bytes, --max-image-pixels and --max-decode-bytes must be positive")}
	}
	if f.name == "" {
		f.name = filepath.Base(filepath.Clean(f.model))
	}
	// The decoding budget bounds the live image buffers on the Go heap; a
	// soft memory limit a little above it has the garbage collector free
	// them before the heap doubles (GOMEMLIMIT in the environment wins).
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(f.maxDecode + 512<<20)
	}
	versions, err := serve.ResolveVersions(f.model)
	if err != nil {
		return err
	}
	v := versions[len(versions)-1]
	m, err := serve.Load(v.Dir, serve.WithBatchSize(max(1, f.batch.MaxBatch)))
	if err != nil {
		return err
	}
	defer m.Close()
	h, err := serve.NewHTTPHandler(m, serve.HTTPOptions{Name: f.name, Version: v.Number, MaxBodyBytes: f.maxBody, MaxImagePixels: f.maxPixels, MaxDecodeBytes: f.maxDecode, Batch: f.batch})
	if err != nil {
		return usageError{err}
	}
	srv, err := serve.NewServer(h, serve.ServerOptions{
		Addr:              net.JoinHostPort(f.host, strconv.Itoa(f.port)),
		ReadHeaderTimeout: f.readHeaderTimeout,
		ReadTimeout:       f.readTimeout,
		WriteTimeout:      f.writeTimeout,
		IdleTimeout:       f.idleTimeout,
		ShutdownTimeout:   f.shutdownTimeout,
	})
	if err != nil {
		h.Close()
		return err
	}
	fmt.Fprintf(stdout, "simsiam: serving %s version %d (%s; signatures %v) at %s\n", f.name, v.Number, v.Dir, m.Signatures(), srv.URL())
	if err := srv.Run(ctx); err != nil {
		return err
	}
	st := h.Stats()
	fmt.Fprintf(stdout, "simsiam: serve stopped (%v): %d images in %d batches served\n", context.Cause(ctx), st.Images, st.Runs)
	return nil
}
