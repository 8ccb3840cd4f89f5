package serve

// TensorFlow Serving's JSON: the body of a :predict request (row format
// "instances" or columnar "inputs") turned into images, and the outputs
// written as "predictions" or "outputs".

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/simsiam-go/simsiam/tfgraph"
)

// predictBody is the top level of a :predict request.
type predictBody struct {
	SignatureName string          `json:"signature_name"`
	Instances     json.RawMessage `json:"instances"`
	Inputs        json.RawMessage `json:"inputs"`
}

// imageValue is one image of a request: encoded bytes ({"b64": ...}) or a
// uint8 pixel array of h x w x c.
type imageValue struct {
	encoded []byte
	h, w, c int
	pix     []byte
	// where names it in messages: instances[3], inputs[0].
	where string
}

// parsePredictBody reads the top level and checks that exactly one of
// instances and inputs is given.
func parsePredictBody(body []byte) (*predictBody, error) {
	var p predictBody
	if err := json.Unmarshal(body, &p); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return nil, badRequest("the request body must be a JSON object {\"signature_name\": ..., \"instances\": [...]} or {\"inputs\": ...}: %v", err)
		}
		return nil, badRequest("malformed JSON in the request body: %v", err)
	}
	has := func(r json.RawMessage) bool { return len(r) > 0 && string(r) != "null" }
	switch {
	case has(p.Instances) && has(p.Inputs):
		return nil, badRequest("the request has both \"instances\" (row format) and \"inputs\" (columnar format); send one of them")
	case !has(p.Instances) && !has(p.Inputs):
		return nil, badRequest("missing \"instances\" (row format) or \"inputs\" (columnar format) in the request body")
	}
	return &p, nil
}

// firstByte is the first non-space byte of a JSON value.
func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// kindOf names the JSON kind starting with c.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// parseInstances reads the row format: one image per entry, each a
// [H][W][C] array, {"b64": ...} or {input: one of those}.
func parseInstances(raw json.RawMessage, input string) ([]imageValue, error) {
	if c := firstByte(raw); c != '[' {
		return nil, badRequest("\"instances\" must be a list with one entry per image, got %s", kindOf(c))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("\"instances\": %v", err)
	}
	if len(items) == 0 {
		return nil, badRequest("\"instances\" is an empty list; send at least one image")
	}
	out := make([]imageValue, len(items))
	for i, it := range items {
		v, err := parseImage(it, input, fmt.Sprintf("instances[%d]", i), true)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// parseInputs reads the columnar format: the input's value itself or
// {input: value}, the value a [N][H][W][C] array or a list of {"b64": ...}.
func parseInputs(raw json.RawMessage, input string) ([]imageValue, error) {
	where := "inputs"
	if firstByte(raw) == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, badRequest("\"inputs\": %v", err)
		}
		if _, ok := m["b64"]; ok {
			return nil, badRequest("\"inputs\" is one {\"b64\": ...} image without the batch dimension; send a list: {\"inputs\": [{\"b64\": ...}]}")
		}
		v, ok := m[input]
		if !ok || len(m) != 1 {
			return nil, badRequest("\"inputs\" names the inputs %s; the signature takes one input, %q", keyList(m), input)
		}
		raw, where = v, "inputs."+input
	}
	switch c := firstByte(raw); c {
	case '[':
	default:
		return nil, badRequest("%s must be a [N][height][width][channels] uint8 array or a list of {\"b64\": ...} images, got %s", where, kindOf(c))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("%s: %v", where, err)
	}
	if len(items) == 0 {
		return nil, badRequest("%s is an empty list; send at least one image", where)
	}
	if firstByte(items[0]) == '[' {
		shape, pix, err := parseUint8Array(raw, 4, where)
		if err != nil {
			return nil, err
		}
		n, h, w, c := shape[0], shape[1], shape[2], shape[3]
		out := make([]imageValue, n)
		per := h * w * c
		for i := range out {
			out[i] = imageValue{h: h, w: w, c: c, pix: pix[i*per : (i+1)*per], where: fmt.Sprintf("%s[%d]", where, i)}
		}
		return out, nil
	}
	out := make([]imageValue, len(items))
	for i, it := range items {
		v, err := parseImage(it, input, fmt.Sprintf("%s[%d]", where, i), false)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func keyList(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "none"
	}
	return fmt.Sprint(keys)
}

// parseImage reads one image: a [H][W][C] uint8 array, {"b64": "..."}, or
// (named) {input: either of those}.
func parseImage(raw json.RawMessage, input, where string, named bool) (imageValue, error) {
	switch c := firstByte(raw); c {
	case '[':
		shape, pix, err := parseUint8Array(raw, 3, where)
		if err != nil {
			return imageValue{}, err
		}
		return imageValue{h: shape[0], w: shape[1], c: shape[2], pix: pix, where: where}, nil
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return imageValue{}, badRequest("%s: %v", where, err)
		}
		if b, ok := m["b64"]; ok {
			if len(m) != 1 {
				return imageValue{}, badRequest("%s: a {\"b64\": ...} object has no other keys, got %s", where, keyList(m))
			}
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return imageValue{}, badRequest("%s.b64 must be a base64 string, got %s", where, kindOf(firstByte(b)))
			}
			enc, err := decodeBase64(s)
			if err != nil {
				return imageValue{}, badRequest("%s.b64 is not valid base64: %v", where, err)
			}
			return imageValue{encoded: enc, where: where}, nil
		}
		if v, ok := m[input]; ok && named && len(m) == 1 {
			return parseImage(v, input, where+"."+input, false)
		}
		return imageValue{}, badRequest("%s is an object with the keys %s; expected {\"b64\": \"...\"} or {%q: ...}", where, keyList(m), input)
	default:
		hint := ""
		if c == '"' {
			hint = " (binary data such as PNG bytes goes in {\"b64\": \"...\"})"
		}
		return imageValue{}, badRequest("%s must be an image, a [height][width][channels] uint8 array or {\"b64\": \"...\"} holding PNG or JPEG bytes, got %s%s", where, kindOf(c), hint)
	}
}

// decodeBase64 accepts standard base64 with or without padding, and the
// URL-safe alphabet.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, e := enc.DecodeString(s); e == nil {
			return b, nil
		}
	}
	return nil, err
}

// arrayParser reads a nested JSON array of uint8 of a given rank into its
// shape and flat elements, with errors naming the position.
type arrayParser struct {
	b     []byte
	i     int
	rank  int
	shape []int
	idx   []int
	out   []byte
	where string
}

// parseUint8Array reads raw, a rank-dimensional rectangular array of
// integers 0..255.
func parseUint8Array(raw []byte, rank int, where string) ([]int, []byte, error) {
	p := &arrayParser{b: raw, rank: rank, shape: make([]int, rank), idx: make([]int, rank), where: where, out: make([]byte, 0, len(raw)/2)}
	for i := range p.shape {
		p.shape[i] = -1
	}
	p.space()
	if err := p.array(0); err != nil {
		return nil, nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, nil, badRequest("%s: unexpected %q after the array", where, p.b[p.i])
	}
	return p.shape, p.out, nil
}

func (p *arrayParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		return
	}
}

func (p *arrayParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// pos names the element at depth d of the current index path.
func (p *arrayParser) pos(d int) string {
	var b bytes.Buffer
	b.WriteString(p.where)
	for _, i := range p.idx[:d] {
		fmt.Fprintf(&b, "[%d]", i)
	}
	return b.String()
}

func (p *arrayParser) dims() string {
	switch p.rank {
	case 3:
		return "[height][width][channels]"
	case 4:
		return "[N][height][width][channels]"
	}
	return fmt.Sprintf("rank %d", p.rank)
}

func (p *arrayParser) array(d int) error {
	if p.peek() != '[' {
		return badRequest("%s must be a list (the images are %s arrays), got %s", p.pos(d), p.dims(), kindOf(p.peek()))
	}
	p.i++
	count := 0
	p.space()
	if p.peek() == ']' {
		p.i++
	} else {
		for {
			p.idx[d] = count
			p.space()
			if d < p.rank-1 {
				if p.peek() != '[' {
					return badRequest("%s is %s, but the images are %s arrays (rank %d): this array has too few dimensions", p.pos(d+1), kindOf(p.peek()), p.dims(), p.rank)
				}
				if err := p.array(d + 1); err != nil {
					return err
				}
			} else {
				if p.peek() == '[' {
					return badRequest("%s is a list, but the images are %s arrays (rank %d): this array has too many dimensions", p.pos(d+1), p.dims(), p.rank)
				}
				v, err := p.uint8(d + 1)
				if err != nil {
					return err
				}
				p.out = append(p.out, v)
			}
			count++
			p.space()
			switch p.peek() {
			case ',':
				p.i++
				continue
			case ']':
				p.i++
			default:
				return badRequest("%s: malformed array", p.pos(d))
			}
			break
		}
	}
	if count == 0 {
		return badRequest("%s is an empty list; every dimension of %s needs at least one element", p.pos(d), p.dims())
	}
	if p.shape[d] < 0 {
		p.shape[d] = count
	} else if p.shape[d] != count {
		return badRequest("%s has %d elements where the first one along that dimension has %d: the array is ragged, %s arrays must be rectangular", p.pos(d), count, p.shape[d], p.dims())
	}
	return nil
}

// uint8 reads one element: a JSON integer 0..255.
func (p *arrayParser) uint8(d int) (byte, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	tok := string(p.b[start:p.i])
	if tok == "" {
		return 0, badRequest("%s is %s; the input is uint8, so pixel values must be integers 0..255", p.pos(d), kindOf(p.peek()))
	}
	v, err := strconv.ParseUint(tok, 10, 8)
	if err != nil {
		return 0, badRequest("%s is %s, not a uint8; the input is uint8, so pixel values must be integers 0..255", p.pos(d), tok)
	}
	return byte(v), nil
}

// writeOutputs writes the response of a predict call: {"predictions": ...}
// (row format) or {"outputs": ...} (columnar), with names the output names
// (sorted) and arrays their values, one row per image.
func writeOutputs(buf *bytes.Buffer, names []string, arrays []Array, columnar bool) {
	if columnar {
		buf.WriteString(`{"outputs":`)
		if len(arrays) == 1 {
			writeArray(buf, arrays[0], 0, arrays[0].Shape)
		} else {
			buf.WriteByte('{')
			for i, a := range arrays {
				if i > 0 {
					buf.WriteByte(',')
				}
				writeKey(buf, names[i])
				writeArray(buf, a, 0, a.Shape)
			}
			buf.WriteByte('}')
		}
		buf.WriteString("}\n")
		return
	}
	buf.WriteString(`{"predictions":`)
	if len(arrays) == 1 {
		writeArray(buf, arrays[0], 0, arrays[0].Shape)
	} else {
		n := arrays[0].Shape[0]
		buf.WriteByte('[')
		for r := int64(0); r < n; r++ {
			if r > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('{')
			for i, a := range arrays {
				if i > 0 {
					buf.WriteByte(',')
				}
				writeKey(buf, names[i])
				writeArray(buf, a, r*product(a.Shape[1:]), a.Shape[1:])
			}
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	}
	buf.WriteString("}\n")
}

func writeKey(buf *bytes.Buffer, k string) {
	b, _ := json.Marshal(k)
	buf.Write(b)
	buf.WriteByte(':')
}

func product(d []int64) int64 {
	n := int64(1)
	for _, v := range d {
		n *= v
	}
	return n
}

// writeArray writes the elements of a from element off on, nested as dims.
func writeArray(buf *bytes.Buffer, a Array, off int64, dims []int64) {
	if len(dims) == 0 {
		writeElement(buf, a, off)
		return
	}
	stride := product(dims[1:])
	buf.WriteByte('[')
	for i := int64(0); i < dims[0]; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeArray(buf, a, off+i*stride, dims[1:])
	}
	buf.WriteByte(']')
}

// writeElement writes one element; floats in the shortest form that reads
// back to the same value, NaN and infinities as TensorFlow Serving writes
// them (NaN, Infinity, -Infinity; Python's json reads them).
func writeElement(buf *bytes.Buffer, a Array, i int64) {
	ne := binary.NativeEndian
	var b [32]byte
	switch a.DType {
	case tfgraph.Float:
		v := math.Float32frombits(ne.Uint32(a.Data[4*i:]))
		writeFloat(buf, float64(v), 32)
	case tfgraph.Double:
		writeFloat(buf, math.Float64frombits(ne.Uint64(a.Data[8*i:])), 64)
	case tfgraph.Int32:
		buf.Write(strconv.AppendInt(b[:0], int64(int32(ne.Uint32(a.Data[4*i:]))), 10))
	case tfgraph.Int64:
		buf.Write(strconv.AppendInt(b[:0], int64(ne.Uint64(a.Data[8*i:])), 10))
	case tfgraph.Uint8:
		buf.Write(strconv.AppendUint(b[:0], uint64(a.Data[i]), 10))
	case tfgraph.Bool:
		if a.Data[i] != 0 {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	}
}

func writeFloat(buf *bytes.Buffer, v float64, bits int) {
	switch {
	case math.IsNaN(v):
		buf.WriteString("NaN")
	case math.IsInf(v, 1):
		buf.WriteString("Infinity")
	case math.IsInf(v, -1):
		buf.WriteString("-Infinity")
	default:
		var b [32]byte
		buf.Write(strconv.AppendFloat(b[:0], v, 'g', -1, bits))
	}
}
