package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestServer serves the tiny exported model on a real loopback listener.
func newTestServer(t *testing.T, m *Model, o HTTPOptions) (*HTTPHandler, *httptest.Server) {
	t.Helper()
	if o.Name == "" {
		o.Name = "tiny"
	}
	if o.Batch == (BatchOptions{}) {
		o.Batch = DefaultBatchOptions()
	}
	h, err := NewHTTPHandler(m, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 2 * time.Second
	srv.Config.ReadHeaderTimeout = 2 * time.Second
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	return h, srv
}

// post sends a JSON body and returns the status and the decoded response.
func post(t *testing.T, url string, body any) (int, map[string]json.RawMessage) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return decodeResponse(t, resp)
}

func get(t *testing.T, url string) (int, map[string]json.RawMessage) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return decodeResponse(t, resp)
}

func decodeResponse(t *testing.T, resp *http.Response) (int, map[string]json.RawMessage) {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q for %s", ct, raw)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("status %d: response is not a JSON object: %v\n%s", resp.StatusCode, err, raw)
	}
	return resp.StatusCode, m
}

// nested turns n HWC images into [n][h][w][c] arrays.
func nested(pix []byte, n, h, w, c int) [][][][]int {
	out := make([][][][]int, n)
	i := 0
	for a := range out {
		out[a] = make([][][]int, h)
		for y := range out[a] {
			out[a][y] = make([][]int, w)
			for x := range out[a][y] {
				out[a][y][x] = make([]int, c)
				for k := range out[a][y][x] {
					out[a][y][x][k] = int(pix[i])
					i++
				}
			}
		}
	}
	return out
}

func floats(t *testing.T, raw json.RawMessage) [][]float32 {
	t.Helper()
	var v [][]float32
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %.200s", err, raw)
	}
	return v
}

// exactlyEqual fails unless a and b hold the same float32 values bit for bit.
func exactlyEqual(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: row %d has %d values, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("%s: [%d][%d] = %v, want %v (Model.Embed)", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestHTTPPredictEqualsEmbed: row and columnar requests, pixel arrays and
// b64 PNGs, give exactly Model.Embed's and Model.EmbedFiles' embeddings.
func TestHTTPPredictEqualsEmbed(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{})
	url := srv.URL + "/v1/models/tiny:predict"

	const n = 3
	pix := randomPix(11, n*20*24*3)
	want, err := m.Embed(pix, n, 20, 24, 3)
	if err != nil {
		t.Fatal(err)
	}
	code, resp := post(t, url, map[string]any{"instances": nested(pix, n, 20, 24, 3)})
	if code != 200 {
		t.Fatalf("row format: %d %s", code, resp["error"])
	}
	exactlyEqual(t, "instances", floats(t, resp["predictions"]), want)

	code, resp = post(t, url, map[string]any{"signature_name": "serving_default", "inputs": nested(pix, n, 20, 24, 3)})
	if code != 200 {
		t.Fatalf("columnar: %d %s", code, resp["error"])
	}
	exactlyEqual(t, "inputs", floats(t, resp["outputs"]), want)

	code, resp = post(t, url, map[string]any{"inputs": map[string]any{"images": nested(pix, n, 20, 24, 3)}})
	if code != 200 {
		t.Fatalf("named columnar: %d %s", code, resp["error"])
	}
	exactlyEqual(t, "inputs.images", floats(t, resp["outputs"]), want)

	// b64 PNGs of several sizes: decoded and resized like simsiam embed.
	dir := t.TempDir()
	var paths []string
	var inst []any
	for i, sz := range [][2]int{{16, 16}, {30, 20}, {17, 40}} {
		p := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		writePNG(t, p, sz[0], sz[1], uint64(i+40))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if i == 1 {
			inst = append(inst, map[string]any{"images": map[string]string{"b64": base64.StdEncoding.EncodeToString(b)}})
		} else {
			inst = append(inst, map[string]string{"b64": base64.StdEncoding.EncodeToString(b)})
		}
	}
	wantFiles, err := m.EmbedFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	code, resp = post(t, url, map[string]any{"instances": inst})
	if code != 200 {
		t.Fatalf("b64: %d %s", code, resp["error"])
	}
	exactlyEqual(t, "b64 instances", floats(t, resp["predictions"]), wantFiles)

	// The projection signature answers with its own output.
	code, resp = post(t, url, map[string]any{"signature_name": "projection", "instances": nested(pix, 1, 20, 24, 3)})
	if code != 200 {
		t.Fatalf("projection: %d %s", code, resp["error"])
	}
	if p := floats(t, resp["predictions"]); len(p) != 1 || len(p[0]) != 16 {
		t.Errorf("projection: %v", p)
	}
}

// TestHTTPClassifier: the classify signature's three outputs come as one
// object per image (row format) or one list per output (columnar), and
// agree with Model.Predict.
func TestHTTPClassifier(t *testing.T) {
	dir := classifierModel(t)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{Name: "clf"})
	const n = 4
	pix := randomPix(12, n*16*16*3)
	want, err := m.Predict(pix, n, 16, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	code, resp := post(t, srv.URL+"/v1/models/clf/versions/0:predict", map[string]any{"signature_name": "classify", "instances": nested(pix, n, 16, 16, 3)})
	if code != 200 {
		t.Fatalf("%d %s", code, resp["error"])
	}
	var rows []struct {
		Classes       int32     `json:"classes"`
		Logits        []float32 `json:"logits"`
		Probabilities []float32 `json:"probabilities"`
	}
	if err := json.Unmarshal(resp["predictions"], &rows); err != nil {
		t.Fatal(err)
	}
	var cols struct {
		Classes       []int32     `json:"classes"`
		Probabilities [][]float32 `json:"probabilities"`
	}
	code, resp = post(t, srv.URL+"/v1/models/clf:predict", map[string]any{"signature_name": "classify", "inputs": nested(pix, n, 16, 16, 3)})
	if code != 200 {
		t.Fatalf("columnar: %d %s", code, resp["error"])
	}
	if err := json.Unmarshal(resp["outputs"], &cols); err != nil {
		t.Fatal(err)
	}
	if len(rows) != n || len(cols.Classes) != n {
		t.Fatalf("%d rows, %d columnar classes", len(rows), len(cols.Classes))
	}
	for i, p := range want {
		if int(rows[i].Classes) != p.Class || int(cols.Classes[i]) != p.Class || len(rows[i].Logits) != 3 {
			t.Errorf("image %d: class %d / %d, want %d", i, rows[i].Classes, cols.Classes[i], p.Class)
		}
		exactlyEqual(t, "probabilities", [][]float32{rows[i].Probabilities, cols.Probabilities[i]}, [][]float32{p.Probabilities, p.Probabilities})
	}
}

// TestHTTPStatusAndMetadata: the model status and metadata have TensorFlow
// Serving's shape.
func TestHTTPStatusAndMetadata(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{Version: 7})
	for _, path := range []string{"/v1/models/tiny", "/v1/models/tiny/versions/7"} {
		code, resp := get(t, srv.URL+path)
		var st []struct {
			Version string `json:"version"`
			State   string `json:"state"`
			Status  struct {
				ErrorCode    string `json:"error_code"`
				ErrorMessage string `json:"error_message"`
			} `json:"status"`
		}
		if err := json.Unmarshal(resp["model_version_status"], &st); err != nil || code != 200 {
			t.Fatalf("%s: %d %v", path, code, err)
		}
		if len(st) != 1 || st[0].Version != "7" || st[0].State != "AVAILABLE" || st[0].Status.ErrorCode != "OK" {
			t.Errorf("%s: %+v", path, st)
		}
	}
	code, resp := get(t, srv.URL+"/v1/models/tiny/metadata")
	if code != 200 {
		t.Fatalf("metadata: %d %s", code, resp["error"])
	}
	var spec struct {
		Name, Version string
	}
	json.Unmarshal(resp["model_spec"], &spec)
	if spec.Name != "tiny" || spec.Version != "7" {
		t.Errorf("model_spec %+v", spec)
	}
	type tensor struct {
		DType string `json:"dtype"`
		Shape struct {
			Dim []struct {
				Size string `json:"size"`
			} `json:"dim"`
			UnknownRank bool `json:"unknown_rank"`
		} `json:"tensor_shape"`
		Name string `json:"name"`
	}
	var md struct {
		SignatureDef struct {
			SignatureDef map[string]struct {
				Inputs     map[string]tensor `json:"inputs"`
				Outputs    map[string]tensor `json:"outputs"`
				MethodName string            `json:"method_name"`
				Defaults   json.RawMessage   `json:"defaults"`
			} `json:"signature_def"`
		} `json:"signature_def"`
	}
	if err := json.Unmarshal(resp["metadata"], &md); err != nil {
		t.Fatal(err)
	}
	sd := md.SignatureDef.SignatureDef
	def, ok := sd["serving_default"]
	if !ok || len(sd) != 2 {
		t.Fatalf("signatures %v", sd)
	}
	dims := func(x tensor) string {
		var s []string
		for _, d := range x.Shape.Dim {
			s = append(s, d.Size)
		}
		return strings.Join(s, ",")
	}
	in, out := def.Inputs["images"], def.Outputs["embedding"]
	if in.DType != "DT_UINT8" || dims(in) != "-1,-1,-1,3" || in.Name == "" || out.DType != "DT_FLOAT" || dims(out) != "-1,32" || def.MethodName != "tensorflow/serving/predict" {
		t.Errorf("serving_default: input %+v output %+v method %q", in, out, def.MethodName)
	}
	// Every signature has "defaults": {} as TensorFlow Serving writes it.
	for name, sig := range sd {
		if string(sig.Defaults) != "{}" {
			t.Errorf("%s: defaults %s, want {}", name, sig.Defaults)
		}
	}
	code, resp = get(t, srv.URL+"/healthz")
	if code != 200 || string(resp["status"]) != `"ok"` {
		t.Errorf("healthz: %d %v", code, resp)
	}
}

// TestHTTPErrors: bad requests get {"error": ...} with the documented
// status and a message naming the problem, and the server keeps serving.
func TestHTTPErrors(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{MaxBodyBytes: 64 << 10, MaxImagePixels: 1000, Version: 3})
	pred := srv.URL + "/v1/models/tiny:predict"
	img := nested(randomPix(3, 4*4*3), 1, 4, 4, 3)[0]
	okBody := map[string]any{"instances": [][][][]int{img}}
	ragged := [][][]int{{{1, 2, 3}, {1, 2, 3}}, {{1, 2, 3}}}
	png := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, png, 8, 8, 1)
	pngBytes, _ := os.ReadFile(png)
	bigPNG := filepath.Join(t.TempDir(), "big.png")
	writePNG(t, bigPNG, 40, 30, 2)
	bigBytes, _ := os.ReadFile(bigPNG)
	huge := `{"instances": [` + strings.Repeat("[[[1,2,3]]],", 70<<10/12) + `[[[1,2,3]]]]}`
	for _, c := range []struct {
		name, method, path string
		body               string
		code               int
		want               string
	}{
		{"malformed JSON", "POST", pred, `{"instances": [[[1,2,3]]`, 400, "malformed JSON"},
		{"not an object", "POST", pred, `[1, 2]`, 400, "must be a JSON object"},
		{"both formats", "POST", pred, `{"instances": [], "inputs": []}`, 400, `both "instances"`},
		{"neither", "POST", pred, `{"examples": []}`, 400, `missing "instances"`},
		{"instances not a list", "POST", pred, `{"instances": {"b64": "aGk="}}`, 400, `"instances" must be a list`},
		{"empty instances", "POST", pred, `{"instances": []}`, 400, "empty list"},
		{"rank 2", "POST", pred, `{"instances": [[[1,2,3],[4,5,6]]]}`, 400, "instances[0][0][0] is a number, but the images are [height][width][channels] arrays (rank 3): this array has too few dimensions"},
		{"rank 4 instance", "POST", pred, `{"instances": [[[[[1,2,3]]]]]}`, 400, "too many dimensions"},
		{"ragged", "POST", pred, mustJSON(map[string]any{"instances": [][][][]int{ragged}}), 400, "instances[0][1] has 1 elements where the first one along that dimension has 2: the array is ragged"},
		{"4 channels", "POST", pred, `{"instances": [[[[1,2,3,4]]]]}`, 400, "instances[0] has 4 channels; signature serving_default takes 3"},
		{"mixed shapes", "POST", pred, `{"instances": [[[[1,2,3]]], [[[1,2,3],[1,2,3]]]]}`, 400, "instances[1] is 1x2x3 but instances[0] is 1x1x3"},
		{"float pixel", "POST", pred, `{"instances": [[[[1,2.5,3]]]]}`, 400, "instances[0][0][0][1] is 2.5, not a uint8"},
		{"pixel 256", "POST", pred, `{"instances": [[[[1,256,3]]]]}`, 400, "is 256, not a uint8"},
		{"negative pixel", "POST", pred, `{"instances": [[[[-1,2,3]]]]}`, 400, "is -1, not a uint8"},
		{"string pixel", "POST", pred, `{"instances": [[[["a",2,3]]]]}`, 400, "instances[0][0][0][0] is a string; the input is uint8"},
		{"string instance", "POST", pred, `{"instances": ["aGk="]}`, 400, `binary data such as PNG bytes goes in {"b64"`},
		{"bad base64", "POST", pred, `{"instances": [{"b64": "***"}]}`, 400, "instances[0].b64 is not valid base64"},
		{"b64 not an image", "POST", pred, `{"instances": [{"b64": "aGVsbG8="}]}`, 400, "instances[0].b64: not a readable JPEG or PNG image"},
		{"b64 too many pixels", "POST", pred, mustJSON(map[string]any{"instances": []any{map[string]string{"b64": base64.StdEncoding.EncodeToString(bigBytes)}}}), 400, "instances[0].b64: image is 40x30 pixels, more than the limit of 1000 pixels"},
		{"b64 and more", "POST", pred, `{"instances": [{"b64": "aGk=", "x": 1}]}`, 400, `no other keys`},
		{"wrong input name", "POST", pred, `{"instances": [{"pixels": [[[1,2,3]]]}]}`, 400, `keys ["pixels"]; expected {"b64": "..."} or {"images": ...}`},
		{"columnar single b64", "POST", pred, `{"inputs": {"b64": "aGk="}}`, 400, "without the batch dimension"},
		{"columnar wrong name", "POST", pred, `{"inputs": {"x": [[[[1,2,3]]]]}}`, 400, `names the inputs ["x"]`},
		{"unknown signature", "POST", pred, mustJSON(map[string]any{"signature_name": "nope", "instances": [][][][]int{img}}), 400, `Serving signature name: "nope" not found in signature def (model tiny has projection, serving_default)`},
		{"huge body", "POST", pred, huge, 413, "larger than the limit of 65536 bytes"},
		{"unknown model", "POST", srv.URL + "/v1/models/other:predict", mustJSON(okBody), 404, "Servable not found for request: Latest(other)"},
		{"unknown version", "POST", srv.URL + "/v1/models/tiny/versions/2:predict", mustJSON(okBody), 404, "Servable not found for request: Specific(tiny, 2)"},
		{"bad version", "GET", srv.URL + "/v1/models/tiny/versions/x", "", 400, "Failed to convert version: x to numeric"},
		{"label", "GET", srv.URL + "/v1/models/tiny/labels/stable", "", 404, "no version label"},
		{"unknown verb", "POST", srv.URL + "/v1/models/tiny:explain", mustJSON(okBody), 404, "unknown verb :explain"},
		{"classify API", "POST", srv.URL + "/v1/models/tiny:classify", `{"examples": []}`, 400, "use :predict"},
		{"GET predict", "GET", pred, "", 405, "method GET is not allowed"},
		{"POST status", "POST", srv.URL + "/v1/models/tiny", "{}", 405, "use GET"},
		{"other path", "GET", srv.URL + "/v2/models", "", 404, "no such path /v2/models"},
		{"unknown metadata path", "GET", srv.URL + "/v1/models/tiny/extra", "", 404, "no such path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			code, body := decodeResponse(t, resp)
			var msg string
			json.Unmarshal(body["error"], &msg)
			if code != c.code || !strings.Contains(msg, c.want) {
				t.Errorf("%d %q, want %d and %q", code, msg, c.code, c.want)
			}
			// The server still answers a good request.
			if code, resp := post(t, pred, okBody); code != 200 {
				t.Fatalf("after %s: %d %s", c.name, code, resp["error"])
			}
		})
	}
	// A body over the limit without a Content-Length (chunked) is cut off
	// while it is read.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(huge))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", pred, pr)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := decodeResponse(t, resp); code != 413 {
		t.Errorf("chunked huge body: %d, want 413", code)
	}
	// A b64 image within the limit works.
	code, r := post(t, pred, map[string]any{"instances": []any{map[string]string{"b64": base64.StdEncoding.EncodeToString(pngBytes)}}})
	if code != 200 {
		t.Errorf("b64 after the errors: %d %s", code, r["error"])
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestHTTPSlowClient: a client that sends its body too slowly is cut off
// after the read timeout, while other clients are served.
func TestHTTPSlowClient(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, srv := newTestServer(t, m, HTTPOptions{})
	pred := srv.URL + "/v1/models/tiny:predict"
	okBody := map[string]any{"instances": nested(randomPix(5, 4*4*3), 1, 4, 4, 3)}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"instances\": [")
	// Meanwhile a normal client is served.
	if code, r := post(t, pred, okBody); code != 200 {
		t.Fatalf("while a client is slow: %d %s", code, r["error"])
	}
	// The slow client never finishes; the server answers 408 or closes the
	// connection once ReadTimeout (2 s) has passed.
	t0 := time.Now()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	got, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the slow connection open for 15 s")
	}
	t.Logf("slow client cut off after %v: %q", time.Since(t0).Round(10*time.Millisecond), firstLine(got))
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Errorf("slow client got %q, want 408 or a closed connection", firstLine(got))
	}
	if code, r := post(t, pred, okBody); code != 200 {
		t.Fatalf("after the slow client: %d %s", code, r["error"])
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// TestHTTPMergesConcurrentRequests: concurrent clients' images go through
// one Session.Run when they fill a batch, and each client gets its own rows.
func TestHTTPMergesConcurrentRequests(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The batch runs only when full (the timeout is far away), so the count
	// depends neither on timing nor on the arrival order: 8 clients with 2
	// images each = 16 images = two runs of 8.
	h, srv := newTestServer(t, m, HTTPOptions{Batch: BatchOptions{MaxBatch: 8, Timeout: time.Hour, MaxPending: 64, Threads: 1}})
	pred := srv.URL + "/v1/models/tiny:predict"
	sizes := []int{2, 2, 2, 2, 2, 2, 2, 2}
	var wg sync.WaitGroup
	errs := make(chan error, len(sizes))
	for i, k := range sizes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pix := randomPix(uint64(200+i), k*16*16*3)
			want, err := m.Embed(pix, k, 16, 16, 3)
			if err != nil {
				errs <- err
				return
			}
			b, _ := json.Marshal(map[string]any{"instances": nested(pix, k, 16, 16, 3)})
			resp, err := http.Post(pred, "application/json", bytes.NewReader(b))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var out struct {
				Predictions [][]float32 `json:"predictions"`
				Error       string      `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("client %d: %d %v %s", i, resp.StatusCode, err, out.Error)
				return
			}
			// TensorFlow's kernels may block a batch of 8 differently from
			// a batch of k, so rows agree to float32 rounding, not bit for bit.
			if len(out.Predictions) != k {
				errs <- fmt.Errorf("client %d: %d rows for %d images", i, len(out.Predictions), k)
				return
			}
			if d := maxDiff(t, out.Predictions, want); d > 1e-5 {
				errs <- fmt.Errorf("client %d: differs from Model.Embed by %g", i, d)
			} else {
				t.Logf("client %d (%d images): max |HTTP - Model.Embed| = %.2g", i, k, d)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := h.Stats()
	if st.Runs != 2 || st.Images != 16 || st.Sizes[8] != 2 {
		t.Errorf("stats %+v, want 2 runs of 8 images", st)
	}
}

// TestHTTPOverloaded: with every slot taken, a request gets 503 at once
// and the server serves again once the queue drains.
func TestHTTPOverloaded(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, srv := newTestServer(t, m, HTTPOptions{Batch: BatchOptions{MaxBatch: 4, Timeout: 0, MaxPending: 2, Threads: 1}})
	// Hold the runner inside Session.Run's place until released.
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	run := h.s.run
	h.b.Close()
	h.b, err = NewBatcher(func(k BatchKey, im []byte, n int) ([]Array, error) {
		entered <- struct{}{}
		<-release
		return run(k, im, n)
	}, BatchOptions{MaxBatch: 4, Timeout: 0, MaxPending: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	pred := srv.URL + "/v1/models/tiny:predict"
	okBody := map[string]any{"instances": nested(randomPix(5, 4*4*3), 1, 4, 4, 3)}
	done := make(chan int, 2)
	for range 2 {
		go func() {
			code, _ := post(t, pred, okBody)
			done <- code
		}()
	}
	<-entered // one request runs, the other waits: both slots are taken
	deadline := time.Now().Add(10 * time.Second)
	for h.b.Pending() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	code, resp := post(t, pred, okBody)
	var msg string
	json.Unmarshal(resp["error"], &msg)
	if code != 503 || !strings.Contains(msg, "overloaded") {
		t.Errorf("third request: %d %q, want 503 overloaded", code, msg)
	}
	close(release)
	for range 2 {
		if c := <-done; c != 200 {
			t.Errorf("queued request: %d", c)
		}
	}
	if code, resp := post(t, pred, okBody); code != 200 {
		t.Errorf("after the queue drained: %d %s", code, resp["error"])
	}
}

// TestHTTPShutdownFinishesInFlight: http.Server.Shutdown with Drain
// answers a request that waits in an open batch, then refuses new ones.
func TestHTTPShutdownFinishesInFlight(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := NewHTTPHandler(m, HTTPOptions{Name: "tiny", Batch: BatchOptions{MaxBatch: 8, Timeout: time.Hour, MaxPending: 8, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	pix := randomPix(9, 16*16*3)
	want, _ := m.Embed(pix, 1, 16, 16, 3)
	got := make(chan [][]float32, 1)
	go func() {
		_, resp := post(t, "http://"+l.Addr().String()+"/v1/models/tiny:predict", map[string]any{"instances": nested(pix, 1, 16, 16, 3)})
		got <- floats(t, resp["predictions"])
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.b.Pending() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	h.Close()
	select {
	case g := <-got:
		exactlyEqual(t, "in-flight request", g, want)
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight request was not answered")
	}
	if _, err := http.Get("http://" + l.Addr().String() + "/healthz"); err == nil {
		t.Error("the server still accepts connections after Shutdown")
	}
	if st := h.Stats(); st.Runs != 1 {
		t.Errorf("stats %+v", st)
	}
}
