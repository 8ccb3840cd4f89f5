package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// HTTPOptions configure NewHTTPHandler.
type HTTPOptions struct {
	// Name is the model name in URLs (/v1/models/NAME).
	Name string
	// Version is the version number the model is served as.
	Version int64
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// MaxImagePixels bounds the width x height of one encoded image, read
	// from its header before it is decoded (0: 2^27).
	MaxImagePixels int64
	// MaxDecodeBytes is the memory budget shared by the requests under
	// way for decoding and preprocessing their images, counted from the
	// images' headers and shapes before anything is decoded (imageCost): a
	// request that does not fit now gets 503, one that can never fit 413
	// (0: DefaultMaxDecodeBytes).
	MaxDecodeBytes int64
	// Batch configures the dynamic batching.
	Batch BatchOptions
}

// DefaultMaxBodyBytes is the default request body limit (16 MiB).
const DefaultMaxBodyBytes = 16 << 20

// DefaultMaxImagePixels is the default bound on an encoded image's pixels
// (4096 x 4096).
const DefaultMaxImagePixels = 4096 * 4096

// HTTPHandler serves one model version with TensorFlow Serving's REST API:
//
//	GET  /v1/models/NAME[/versions/V]            model status
//	GET  /v1/models/NAME[/versions/V]/metadata   signatures
//	POST /v1/models/NAME[/versions/V]:predict    {"instances": [...]} or {"inputs": ...}
//	GET  /healthz                                liveness and queue depth
//
// Images are {"b64": "..."} PNG or JPEG bytes (decoded at their own size,
// as Model.EmbedFiles decodes files) or uint8 [height][width][channels]
// arrays; both go through the model's graph, which resizes and normalises
// them (see the preprocessing notes in preprocess.go), so the two forms of
// one image give the same answer.
// Errors are {"error": "..."} with 400 (bad input), 404 (unknown model,
// version or path), 405 (method), 408 (body sent too slowly), 413 (body too
// large), 503 (queue full or shutting down) or 500 (TensorFlow failed).
// Requests are merged into batches by a Batcher.
type HTTPHandler struct {
	s        *servable
	b        *Batcher
	o        HTTPOptions
	budget   *budget
	inFlight atomic.Int64
	draining atomic.Bool
}

// NewHTTPHandler serves m (which stays the caller's to close, after the
// handler's Close). o.Name must be set.
func NewHTTPHandler(m *Model, o HTTPOptions) (*HTTPHandler, error) {
	if m == nil {
		return nil, errors.New("serve: no model")
	}
	if o.Name == "" || strings.ContainsAny(o.Name, "/:") {
		return nil, fmt.Errorf("serve: model name %q must be non-empty without '/' or ':'", o.Name)
	}
	if o.Version < 0 {
		return nil, fmt.Errorf("serve: version %d, want 0 or more", o.Version)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("serve: body limit %d bytes, want a positive limit", o.MaxBodyBytes)
	}
	if o.MaxImagePixels == 0 {
		o.MaxImagePixels = DefaultMaxImagePixels
	}
	if o.MaxDecodeBytes == 0 {
		o.MaxDecodeBytes = DefaultMaxDecodeBytes
	}
	if o.MaxDecodeBytes < 0 {
		return nil, fmt.Errorf("serve: decoding budget %d bytes, want a positive budget", o.MaxDecodeBytes)
	}
	s := newServable(o.Name, o.Version, m, o.MaxImagePixels)
	if len(s.sigs) == 0 {
		return nil, fmt.Errorf("serve: %s: no signature takes one uint8 [N, H, W, C] images input (%v)", m.Dir(), s.skipped)
	}
	b, err := NewBatcher(s.run, o.Batch)
	if err != nil {
		return nil, err
	}
	return &HTTPHandler{s: s, b: b, o: o, budget: newBudget(o.MaxDecodeBytes)}, nil
}

// Stats are the batcher's counters (Session.Runs and their batch sizes).
func (h *HTTPHandler) Stats() BatchStats { return h.b.Stats() }

// InFlight is the number of requests being handled.
func (h *HTTPHandler) InFlight() int64 { return h.inFlight.Load() }

// Drain prepares the shutdown: /healthz answers 503 and the batches
// waiting to fill run at once. Requests are still served.
func (h *HTTPHandler) Drain() {
	h.draining.Store(true)
	h.b.Flush()
}

// Close stops the batcher after the requests under way (call it after
// http.Server.Shutdown). The model is not closed.
func (h *HTTPHandler) Close() {
	h.draining.Store(true)
	h.b.Close()
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// writeJSON writes a JSON body with its status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes {"error": msg} with err's status (500 for plain errors).
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrClosed), errors.Is(err, errBudgetFull):
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	writeJSON(w, status, append(b, '\n'))
}

// ServeHTTP routes a request.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	if err := h.serve(w, r); err != nil {
		writeError(w, err)
	}
}

func (h *HTTPHandler) serve(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Path
	if path == "/healthz" {
		if err := allow(w, r, http.MethodGet, http.MethodHead); err != nil {
			return err
		}
		return h.health(w)
	}
	rest, ok := strings.CutPrefix(path, "/v1/models/")
	if !ok {
		return notFound("no such path %s; the API is under /v1/models/%s", path, h.o.Name)
	}
	rest, verb, hasVerb := strings.Cut(rest, ":")
	segs := strings.Split(rest, "/")
	name := segs[0]
	version := int64(-1)
	segs = segs[1:]
	if len(segs) >= 2 && segs[0] == "versions" {
		v, err := strconv.ParseInt(segs[1], 10, 64)
		if err != nil || v < 0 {
			return badRequest("Failed to convert version: %s to numeric", segs[1])
		}
		version = v
		segs = segs[2:]
	} else if len(segs) >= 2 && segs[0] == "labels" {
		return notFound("no version label %q for model %s: this server assigns no labels (use /versions/%d)", segs[1], name, h.o.Version)
	}
	if name != h.o.Name {
		return notFound("Servable not found for request: %s", servableRequest(name, version))
	}
	if version >= 0 && version != h.o.Version {
		return notFound("Servable not found for request: %s (this server serves version %d)", servableRequest(name, version), h.o.Version)
	}
	switch {
	case hasVerb && len(segs) == 0:
		if err := allow(w, r, http.MethodPost); err != nil {
			return err
		}
		switch verb {
		case "predict":
			return h.predict(w, r)
		case "classify", "regress":
			return badRequest("the %s API takes tf.Example inputs and a %s signature, which this model does not have; use :predict (signature_name \"classify\" for a classifier)", verb, verb)
		}
		return notFound("unknown verb :%s (the API has :predict)", verb)
	case !hasVerb && len(segs) == 0:
		if err := allow(w, r, http.MethodGet); err != nil {
			return err
		}
		return h.status(w)
	case !hasVerb && len(segs) == 1 && segs[0] == "metadata":
		if err := allow(w, r, http.MethodGet); err != nil {
			return err
		}
		return h.metadata(w)
	}
	return notFound("no such path %s", path)
}

// servableRequest formats a request as TensorFlow Serving's messages do.
func servableRequest(name string, version int64) string {
	if version < 0 {
		return fmt.Sprintf("Latest(%s)", name)
	}
	return fmt.Sprintf("Specific(%s, %d)", name, version)
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m {
			return nil
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	return &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (use %s)", r.Method, r.URL.Path, strings.Join(methods, " or "))}
}

func (h *HTTPHandler) health(w http.ResponseWriter) error {
	status, code := "ok", http.StatusOK
	if h.draining.Load() {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(struct {
		Status   string `json:"status"`
		Model    string `json:"model"`
		Version  string `json:"version"`
		InFlight int64  `json:"in_flight"`
		Pending  int    `json:"pending"`
	}{status, h.o.Name, strconv.FormatInt(h.o.Version, 10), h.inFlight.Load() - 1, h.b.Pending()})
	writeJSON(w, code, append(b, '\n'))
	return nil
}

// status answers like TensorFlow Serving's GetModelStatus.
func (h *HTTPHandler) status(w http.ResponseWriter) error {
	type status struct {
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	}
	type versionStatus struct {
		Version string `json:"version"`
		State   string `json:"state"`
		Status  status `json:"status"`
	}
	b, _ := json.MarshalIndent(struct {
		ModelVersionStatus []versionStatus `json:"model_version_status"`
	}{[]versionStatus{{strconv.FormatInt(h.o.Version, 10), "AVAILABLE", status{"OK", ""}}}}, "", " ")
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// metadata answers like TensorFlow Serving's GetModelMetadata: every
// signature's inputs and outputs with dtype and shape.
func (h *HTTPHandler) metadata(w http.ResponseWriter) error {
	type dim struct {
		Size string `json:"size"`
		Name string `json:"name"`
	}
	type shape struct {
		Dim         []dim `json:"dim,omitempty"`
		UnknownRank bool  `json:"unknown_rank"`
	}
	type tensor struct {
		DType string `json:"dtype"`
		Shape shape  `json:"tensor_shape"`
		Name  string `json:"name"`
	}
	type signature struct {
		Inputs     map[string]tensor `json:"inputs"`
		Outputs    map[string]tensor `json:"outputs"`
		MethodName string            `json:"method_name"`
		// Defaults are the signature's default inputs (TensorFlow
		// Serving writes {} when there are none, as here).
		Defaults map[string]tensor `json:"defaults"`
	}
	conv := func(ti tensorInfo) tensor {
		t := tensor{DType: dtypeProtoName(ti.dtype), Name: ti.name, Shape: shape{UnknownRank: ti.shape == nil}}
		for _, d := range ti.shape {
			t.Shape.Dim = append(t.Shape.Dim, dim{Size: strconv.FormatInt(d, 10)})
		}
		return t
	}
	sigs := map[string]signature{}
	for name, sig := range h.s.model.sm.Signatures {
		s := signature{Inputs: map[string]tensor{}, Outputs: map[string]tensor{}, MethodName: sig.MethodName, Defaults: map[string]tensor{}}
		for k, o := range sig.Inputs {
			s.Inputs[k] = conv(infoOf(o))
		}
		for k, o := range sig.Outputs {
			s.Outputs[k] = conv(infoOf(o))
		}
		sigs[name] = s
	}
	type spec struct {
		Name          string `json:"name"`
		SignatureName string `json:"signature_name"`
		Version       string `json:"version"`
	}
	var resp struct {
		ModelSpec spec `json:"model_spec"`
		Metadata  struct {
			SignatureDef struct {
				SignatureDef map[string]signature `json:"signature_def"`
			} `json:"signature_def"`
		} `json:"metadata"`
	}
	resp.ModelSpec = spec{h.o.Name, "", strconv.FormatInt(h.o.Version, 10)}
	resp.Metadata.SignatureDef.SignatureDef = sigs
	b, err := json.MarshalIndent(resp, "", " ")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// readBody reads the request body within the limit.
func (h *HTTPHandler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := h.o.MaxBodyBytes
	tooLarge := &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than the limit of %d bytes (simsiam serve --max-body-bytes); send fewer images per request", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge
		case errors.As(err, &ne) && ne.Timeout():
			return nil, &apiError{http.StatusRequestTimeout, "reading the request body timed out (simsiam serve --read-timeout)"}
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	return body, nil
}

func (h *HTTPHandler) predict(w http.ResponseWriter, r *http.Request) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := parsePredictBody(body)
	if err != nil {
		return err
	}
	ss, err := h.s.signature(req.SignatureName)
	if err != nil {
		return err
	}
	columnar := len(req.Inputs) > 0 && string(req.Inputs) != "null"
	var imgs []imageValue
	if columnar {
		imgs, err = parseInputs(req.Inputs, ss.input)
	} else {
		imgs, err = parseInstances(req.Instances, ss.input)
	}
	if err != nil {
		return err
	}
	plan, cost, err := h.s.plan(ss, imgs)
	if err != nil {
		return err
	}
	// The queue slot and the decoding budget are taken before anything is
	// decoded, so an overloaded server refuses at once.
	release, err := h.b.Reserve()
	if err != nil {
		return err
	}
	if err := h.budget.acquire(cost); err != nil {
		release()
		return err
	}
	defer h.budget.release(cost)
	pix, err := h.s.decode(r.Context(), imgs, plan)
	if err != nil {
		release()
		if r.Context().Err() != nil {
			return nil // the client has gone; nobody reads an answer
		}
		return err
	}
	parts, rows := groupParts(ss.name, plan, pix)
	partOuts, err := h.b.SubmitReserved(r.Context(), release, parts)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The client has gone; nobody reads an answer.
			return nil
		}
		return err
	}
	outs, err := mergeRows(partOuts, rows, len(imgs))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	writeOutputs(&buf, ss.outputs, outs, columnar)
	writeJSON(w, http.StatusOK, buf.Bytes())
	return nil
}
