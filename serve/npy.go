package serve

// NumPy .npy files (format version 1.0): the magic "\x93NUMPY", the version
// bytes 1 0, a little-endian uint16 header length, then an ASCII Python dict
// literal {'descr': ..., 'fortran_order': False, 'shape': (...), } padded
// with spaces and ended by '\n' so that the data starts at a multiple of 64
// bytes, then the elements in C order.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/simsiam-go/simsiam/tfgraph"
)

const npyMagic = "\x93NUMPY"

// NPY is an array read from a .npy file: Float32 for '<f4' data, Uint8 for
// '|u1' data.
type NPY struct {
	Shape   []int
	Descr   string
	Float32 []float32
	Uint8   []byte
}

// Rows returns a 2-D float32 array as rows.
func (a *NPY) Rows() ([][]float32, error) {
	if a.Descr != "<f4" || len(a.Shape) != 2 {
		return nil, fmt.Errorf("npy: want a 2-D float32 array, have %s %v", a.Descr, a.Shape)
	}
	rows := make([][]float32, a.Shape[0])
	for i := range rows {
		rows[i] = a.Float32[i*a.Shape[1] : (i+1)*a.Shape[1] : (i+1)*a.Shape[1]]
	}
	return rows, nil
}

// WriteNPY writes rows as a float32 array of shape [len(rows), len(rows[0])]
// ('<f4', C order). Every row must have the same length.
func WriteNPY(path string, rows [][]float32) error {
	cols := 0
	if len(rows) > 0 {
		cols = len(rows[0])
	}
	flat := make([]float32, 0, len(rows)*cols)
	for i, r := range rows {
		if len(r) != cols {
			return fmt.Errorf("npy %s: row %d has %d values, row 0 has %d", path, i, len(r), cols)
		}
		flat = append(flat, r...)
	}
	return WriteNPYFloat32(path, []int{len(rows), cols}, flat)
}

// WriteNPYFloat32 writes a float32 array of the given shape ('<f4').
func WriteNPYFloat32(path string, shape []int, values []float32) error {
	return writeNPY(path, "<f4", shape, len(values), func(w io.Writer) error {
		var b [4]byte
		for _, v := range values {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteNPYUint8 writes a uint8 array of the given shape ('|u1'), e.g.
// images as [N, H, W, C].
func WriteNPYUint8(path string, shape []int, values []byte) error {
	return writeNPY(path, "|u1", shape, len(values), func(w io.Writer) error {
		_, err := w.Write(values)
		return err
	})
}

// npyHeader renders the padded header (magic to '\n' inclusive).
func npyHeader(descr string, shape []int) ([]byte, error) {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	// magic (6) + version (2) + length (2) + dict + padding + '\n' ≡ 0 mod 64
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	if hlen > math.MaxUint16 {
		return nil, fmt.Errorf("npy: header of %d bytes does not fit format 1.0", hlen)
	}
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.Write([]byte{1, 0})
	binary.Write(&buf, binary.LittleEndian, uint16(hlen))
	buf.WriteString(dict)
	buf.WriteString(strings.Repeat(" ", pad))
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func writeNPY(path, descr string, shape []int, n int, body func(io.Writer) error) error {
	count := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy %s: negative dimension in shape %v", path, shape)
		}
		count *= d
	}
	if count != n {
		return fmt.Errorf("npy %s: shape %v holds %d values, got %d", path, shape, count, n)
	}
	hdr, err := npyHeader(descr, shape)
	if err != nil {
		return fmt.Errorf("npy %s: %w", path, err)
	}
	err = tfgraph.WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		return body(w)
	})
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// ReadNPY reads a .npy file of format 1.x, 2.x or 3.x holding a C-order
// little-endian float32 ('<f4') or uint8 ('|u1') array.
func ReadNPY(path string) (*NPY, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	a, err := parseNPY(b)
	if err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	return a, nil
}

func parseNPY(b []byte) (*NPY, error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return nil, errors.New("not a .npy file (bad magic)")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, errors.New("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf("unsupported format version %d.%d", b[6], b[7])
	}
	if hlen < 0 || hlen > len(b)-start {
		return nil, errors.New("truncated header")
	}
	header := string(b[start : start+hlen])
	payload := b[start+hlen:]
	descr, err := dictField(header, "descr")
	if err != nil {
		return nil, err
	}
	descr = strings.Trim(descr, "'\"")
	fortran, err := dictField(header, "fortran_order")
	if err != nil {
		return nil, err
	}
	if fortran != "False" {
		return nil, errors.New("Fortran-order arrays are not supported")
	}
	shapeText, err := dictField(header, "shape")
	if err != nil {
		return nil, err
	}
	shapeText = strings.TrimSpace(shapeText)
	if !strings.HasPrefix(shapeText, "(") || !strings.HasSuffix(shapeText, ")") {
		return nil, fmt.Errorf("bad shape %q", shapeText)
	}
	a := &NPY{Descr: descr, Shape: []int{}}
	count := 1
	for _, f := range strings.Split(shapeText[1:len(shapeText)-1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad shape %q", shapeText)
		}
		if d > 0 && count > math.MaxInt32/d {
			return nil, fmt.Errorf("shape %s is too large", shapeText)
		}
		count *= d
		a.Shape = append(a.Shape, d)
	}
	switch descr {
	case "<f4":
		if len(payload) != 4*count {
			return nil, fmt.Errorf("%d data bytes for %d float32 values", len(payload), count)
		}
		a.Float32 = make([]float32, count)
		for i := range a.Float32 {
			a.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:]))
		}
	case "|u1", "<u1":
		if len(payload) != count {
			return nil, fmt.Errorf("%d data bytes for %d uint8 values", len(payload), count)
		}
		a.Uint8 = append([]byte{}, payload...)
	default:
		return nil, fmt.Errorf("unsupported dtype %q (want '<f4' or '|u1')", descr)
	}
	return a, nil
}

// dictField extracts the text of one value of the header's dict literal.
// Values are strings, booleans or tuples, which contain no ':'.
func dictField(header, key string) (string, error) {
	i := strings.Index(header, "'"+key+"'")
	if i < 0 {
		return "", fmt.Errorf("header has no %q", key)
	}
	rest := header[i+len(key)+2:]
	j := strings.IndexByte(rest, ':')
	if j < 0 {
		return "", fmt.Errorf("bad header near %q", key)
	}
	rest = strings.TrimSpace(rest[j+1:])
	if strings.HasPrefix(rest, "(") {
		k := strings.IndexByte(rest, ')')
		if k < 0 {
			return "", errors.New("unterminated shape tuple")
		}
		return rest[:k+1], nil
	}
	k := strings.IndexAny(rest, ",}")
	if k < 0 {
		return "", fmt.Errorf("bad header near %q", key)
	}
	return strings.TrimSpace(rest[:k]), nil
}

// CheckOutput checks, before any work, that an output file can be created
// at path: its folder exists and path is not a folder.
func CheckOutput(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output %s: its folder %s: %w", path, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("output %s: %s is not a folder", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a folder", path)
	}
	return nil
}

// WriteEmbeddings writes rows as a float32 .npy to path and names, one a
// line, to path+".txt" (the rows' order). Both are written in full to
// temporary files beside them before either is replaced, and the .txt is
// renamed first: a failure while writing (disk full, a missing folder)
// leaves the old pair as it was.
func WriteEmbeddings(path string, names []string, rows [][]float32) error {
	if len(names) != len(rows) {
		return fmt.Errorf("npy %s: %d names for %d rows", path, len(names), len(rows))
	}
	if err := CheckOutput(path); err != nil {
		return err
	}
	reserve := func(p string) (string, error) {
		f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-")
		if err != nil {
			return "", fmt.Errorf("writing %s: %w", p, err)
		}
		f.Close()
		return f.Name(), nil
	}
	npyTmp, err := reserve(path)
	if err != nil {
		return err
	}
	defer os.Remove(npyTmp)
	if err := WriteNPY(npyTmp, rows); err != nil {
		return err
	}
	txt := path + ".txt"
	txtTmp, err := reserve(txt)
	if err != nil {
		return err
	}
	defer os.Remove(txtTmp)
	if err := tfgraph.WriteFileAtomic(txtTmp, []byte(strings.Join(names, "\n")+"\n")); err != nil {
		return err
	}
	if err := os.Rename(txtTmp, txt); err != nil {
		return fmt.Errorf("writing %s: %w", txt, err)
	}
	if err := os.Rename(npyTmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
