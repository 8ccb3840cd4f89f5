package tfgraph

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// saveVars writes a checkpoint of freshly initialised variables made by mk.
func saveVars(t testing.TB, mk func(s *Scope)) string {
	t.Helper()
	g := NewGraph()
	mk(g.Root())
	sv := NewSaver(g, "save", g.Variables())
	sess, err := NewSession(g, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Run(nil, nil, g.InitOp("init")); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt-1")
	if err := sv.Save(sess, prefix); err != nil {
		t.Fatal(err)
	}
	return prefix
}

func TestReadCheckpointIndexOfSaver(t *testing.T) {
	prefix := saveVars(t, func(s *Scope) {
		s.Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 16}, Fill(1), 0)
		s.Child("encoder/bn1").Var("moving_mean", []int64{16}, Zeros(), 0, NonTrainable())
		s.Var("global_step", nil, Zeros(), 0, WithDType(Int64), NonTrainable())
	})
	specs, err := ReadCheckpointIndex(prefix)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TensorSpec{
		"encoder/conv1/kernel":    {Float, []int64{3, 3, 3, 16}},
		"encoder/bn1/moving_mean": {Float, []int64{16}},
		"global_step":             {Int64, []int64{}},
	}
	if len(specs) != len(want) {
		t.Errorf("got %d tensors %v, want %d", len(specs), specs, len(want))
	}
	for k, w := range want {
		g, ok := specs[k]
		if !ok {
			t.Errorf("%s missing", k)
			continue
		}
		if g.DType != w.DType || !equalDims(g.Dims, w.Dims) {
			t.Errorf("%s: got %v, want %v", k, g, w)
		}
	}
	if got := specs["encoder/conv1/kernel"].String(); got != "float32 [3 3 3 16]" {
		t.Errorf("String() = %q", got)
	}
}

func TestReadCheckpointIndexErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadCheckpointIndex(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	prefix := saveVars(t, func(s *Scope) {
		for i := 0; i < 20; i++ {
			s.Var(fmt.Sprintf("layer%02d/kernel", i), []int64{int64(i + 1), 2}, Zeros(), 0)
		}
	})
	good, err := os.ReadFile(prefix + ".index")
	if err != nil {
		t.Fatal(err)
	}
	// An implausibly large (sparse) file is refused before it is read.
	huge := filepath.Join(dir, "huge")
	if f, err := os.Create(huge + ".index"); err != nil {
		t.Fatal(err)
	} else if err := errors.Join(f.Truncate(maxIndexFileBytes+1), f.Close()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpointIndex(huge); err == nil || !strings.Contains(err.Error(), "more than an index file can plausibly be") {
		t.Errorf("huge index: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	// Every truncation is an error, never a panic.
	for n := 0; n < len(good); n++ {
		if err := os.WriteFile(bad+".index", good[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpointIndex(bad); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		} else if n == len(good)/2 && !strings.Contains(err.Error(), bad+".index") {
			t.Errorf("error does not name the file: %v", err)
		}
	}
	// Flipped bytes in the blocks fail the checksum; anywhere else they
	// give an error or go unnoticed (padding), but never panic.
	for i := range good {
		c := append([]byte(nil), good...)
		c[i] ^= 0x5a
		_, _, _ = parseCheckpointIndex(c)
		if i < len(good)-tableFooterLen {
			if _, _, err := parseCheckpointIndex(c); err == nil {
				t.Errorf("flipping byte %d of a block went unnoticed", i)
			}
		}
	}
	if _, _, err := parseCheckpointIndex(bytes.Repeat([]byte{0xff}, 100)); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("garbage: %v", err)
	}
}

// tableWriter writes the LevelDB table format for tests: small blocks,
// optional Snappy compression (with the module's encoder, so blocks hold
// back-references as TensorFlow's would).
type tableWriter struct {
	blockSize, restartEvery int
	snappy                  bool
}

func (w tableWriter) block(keys, vals [][]byte) []byte {
	var b []byte
	var restarts []uint32
	var prev []byte
	for i, k := range keys {
		shared := 0
		if i%w.restartEvery == 0 {
			restarts = append(restarts, uint32(len(b)))
		} else {
			for shared < len(prev) && shared < len(k) && prev[shared] == k[shared] {
				shared++
			}
		}
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(k)-shared))
		b = binary.AppendUvarint(b, uint64(len(vals[i])))
		b = append(b, k[shared:]...)
		b = append(b, vals[i]...)
		prev = k
	}
	if len(restarts) == 0 {
		restarts = []uint32{0}
	}
	for _, r := range restarts {
		b = binary.LittleEndian.AppendUint32(b, r)
	}
	return binary.LittleEndian.AppendUint32(b, uint32(len(restarts)))
}

// snappyLiteral encodes b as one Snappy literal.
func snappyLiteral(b []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(b)))
	if len(b) == 0 {
		return out
	}
	n := len(b) - 1
	switch {
	case n < 60:
		out = append(out, byte(n<<2))
	case n < 1<<8:
		out = append(out, 60<<2, byte(n))
	default:
		out = append(out, 61<<2, byte(n), byte(n>>8))
	}
	return append(out, b...)
}

func (w tableWriter) put(file *[]byte, contents []byte) blockHandle {
	typ := byte(0)
	if w.snappy {
		contents, typ = snappy.Encode(nil, contents), 1
	}
	h := blockHandle{uint64(len(*file)), uint64(len(contents))}
	crc := crc32.Update(crc32.Checksum(contents, castagnoli), castagnoli, []byte{typ})
	masked := (crc>>15 | crc<<17) + 0xa282ead8
	*file = append(*file, contents...)
	*file = append(*file, typ)
	*file = binary.LittleEndian.AppendUint32(*file, masked)
	return h
}

func (w tableWriter) write(keys, vals [][]byte) []byte {
	var file []byte
	var idxKeys, idxVals [][]byte
	start, size := 0, 0
	flush := func(end int) {
		if end == start {
			return
		}
		h := w.put(&file, w.block(keys[start:end], vals[start:end]))
		idxKeys = append(idxKeys, keys[end-1])
		idxVals = append(idxVals, binary.AppendUvarint(binary.AppendUvarint(nil, h.offset), h.size))
		start, size = end, 0
	}
	for i := range keys {
		size += len(keys[i]) + len(vals[i]) + 3
		if size >= w.blockSize {
			flush(i + 1)
		}
	}
	flush(len(keys))
	meta := w.put(&file, w.block(nil, nil))
	index := w.put(&file, w.block(idxKeys, idxVals))
	var footer []byte
	footer = binary.AppendUvarint(footer, meta.offset)
	footer = binary.AppendUvarint(footer, meta.size)
	footer = binary.AppendUvarint(footer, index.offset)
	footer = binary.AppendUvarint(footer, index.size)
	footer = append(footer, make([]byte, 40-len(footer))...)
	footer = binary.LittleEndian.AppendUint64(footer, tableMagic)
	return append(file, footer...)
}

// bundleTable builds an index file for the given specs.
func bundleTable(t testing.TB, w tableWriter, specs map[string]TensorSpec) []byte {
	names := make([]string, 0, len(specs))
	for k := range specs {
		names = append(names, k)
	}
	sort.Strings(names)
	hdr, err := proto.Marshal(&pb.BundleHeaderProto{NumShards: 1})
	if err != nil {
		t.Fatal(err)
	}
	keys, vals := [][]byte{{}}, [][]byte{hdr}
	for _, n := range names {
		sh := &shapepb.TensorShapeProto{}
		for _, d := range specs[n].Dims {
			sh.Dim = append(sh.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
		}
		v, err := proto.Marshal(&pb.BundleEntryProto{Dtype: typespb.DataType(specs[n].DType), Shape: sh})
		if err != nil {
			t.Fatal(err)
		}
		keys, vals = append(keys, []byte(n)), append(vals, v)
	}
	return w.write(keys, vals)
}

func TestParseHandWrittenTables(t *testing.T) {
	specs := map[string]TensorSpec{}
	for i := 0; i < 200; i++ {
		specs[fmt.Sprintf("encoder/layer%d/%d/conv%d/kernel", i%4+1, i%3, i)] = TensorSpec{Float, []int64{3, 3, int64(i), 8}}
	}
	specs["global_step"] = TensorSpec{Int64, []int64{}}
	for _, w := range []tableWriter{
		{blockSize: 1 << 20, restartEvery: 16},
		{blockSize: 300, restartEvery: 4},
		{blockSize: 300, restartEvery: 1, snappy: true},
		{blockSize: 64, restartEvery: 3, snappy: true},
	} {
		got, _, err := parseCheckpointIndex(bundleTable(t, w, specs))
		if err != nil {
			t.Fatalf("%+v: %v", w, err)
		}
		if len(got) != len(specs) {
			t.Fatalf("%+v: %d tensors, want %d", w, len(got), len(specs))
		}
		for k, s := range specs {
			if g := got[k]; g.DType != s.DType || !equalDims(g.Dims, s.Dims) {
				t.Errorf("%+v: %s = %v, want %v", w, k, g, s)
			}
		}
	}
}

func TestSnappyDecode(t *testing.T) {
	// "abcd" literal, then a 1-byte-offset copy of 8 overlapping bytes
	// (offset 4, length 8 -> "abcdabcd"), then a 2-byte-offset copy of 3
	// (offset 12 -> "abc"), then a 4-byte-offset copy of 2 (offset 1 -> "cc").
	src := []byte{17, 3 << 2, 'a', 'b', 'c', 'd',
		1 | (8-4)<<2, 4,
		2 | (3-1)<<2, 12, 0,
		3 | (2-1)<<2, 1, 0, 0, 0}
	got, err := snappyDecode(src)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "abcdabcdabcdabccc" {
		t.Errorf("got %q", got)
	}
	// Literals with 1- and 2-byte lengths.
	for _, n := range []int{61, 300} {
		long := bytes.Repeat([]byte{'x'}, n)
		if got, err := snappyDecode(snappyLiteral(long)); err != nil || !bytes.Equal(got, long) {
			t.Errorf("literal of %d bytes: %v", n, err)
		}
	}
	for _, bad := range [][]byte{
		{},
		{5, 0},                     // literal of 1 with no data
		{4, 1 | 0<<2, 9},           // copy before any output
		{200, 1},                   // implausible length
		{4, 3 << 2, 'a', 'b', 'c'}, // truncated literal
		{4, 2 << 2, 'a', 'b', 'c'}, // wrong total length
		{5, 0, 'a', 1, 0},          // copy with offset 0 (an S2 repeat, not Snappy)
	} {
		if _, err := snappyDecode(bad); err == nil {
			t.Errorf("snappyDecode(%v) succeeded", bad)
		}
	}
}

func TestCheckCompatible(t *testing.T) {
	prefix := saveVars(t, func(s *Scope) {
		s.Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 16}, Zeros(), 0)
		s.Child("encoder/bn1").Var("gamma", []int64{16}, Zeros(), 0)
		s.Var("step", nil, Zeros(), 0, WithDType(Int64))
		s.Var("optimizer/slot", []int64{7}, Zeros(), 0)
	})
	g := NewGraph()
	s := g.Root()
	ok := []*Variable{
		s.Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 16}, Zeros(), 0),
		s.Child("encoder/bn1").Var("gamma", []int64{16}, Zeros(), 0),
	}
	if err := CheckCompatible(prefix, ok); err != nil {
		t.Errorf("compatible variables: %v", err)
	}
	g2 := NewGraph()
	s2 := g2.Root()
	bad := []*Variable{
		s2.Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 64}, Zeros(), 0),
		s2.Child("encoder/bn1").Var("gamma", []int64{16}, Zeros(), 0),
		s2.Var("step", nil, Zeros(), 0),
		s2.Child("projector/fc1").Var("kernel", []int64{64, 8}, Zeros(), 0),
	}
	err := CheckCompatible(prefix, bad)
	var ie *IncompatibleError
	if !errors.As(err, &ie) {
		t.Fatalf("want an IncompatibleError, got %v", err)
	}
	want := []string{
		"encoder/conv1/kernel: checkpoint has [3 3 3 16], model wants [3 3 3 64]",
		"projector/: the checkpoint holds no variables under it (a checkpoint of another model?)",
		"step: checkpoint has int64 [], model wants float32 []",
	}
	if strings.Join(ie.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ie.Problems, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), "3 problems") {
		t.Errorf("message: %v", err)
	}
	// A shallower model: every tensor it has is in the checkpoint with its
	// shape, but the checkpoint's encoder/ holds one more.
	g3 := NewGraph()
	shallow := []*Variable{g3.Root().Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 16}, Zeros(), 0)}
	err = CheckCompatible(prefix, shallow)
	if !errors.As(err, &ie) || len(ie.Problems) != 1 ||
		ie.Problems[0] != "encoder/: the checkpoint holds 1 variables the model does not have, first encoder/bn1/gamma (a deeper or different network?)" {
		t.Errorf("shallower model: %v", err)
	}
}

func FuzzReadCheckpointIndex(f *testing.F) {
	prefix := saveVars(f, func(s *Scope) {
		s.Child("encoder/conv1").Var("kernel", []int64{3, 3, 3, 4}, Zeros(), 0)
		s.Var("global_step", nil, Zeros(), 0, WithDType(Int64))
	})
	real, err := os.ReadFile(prefix + ".index")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	specs := map[string]TensorSpec{"a": {Float, []int64{1, 2}}, "b/c": {Int32, nil}}
	f.Add(bundleTable(f, tableWriter{blockSize: 16, restartEvery: 2}, specs))
	f.Add(bundleTable(f, tableWriter{blockSize: 16, restartEvery: 1, snappy: true}, specs))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, hdr, err := parseCheckpointIndex(b)
		if err != nil {
			if got != nil || hdr != nil {
				t.Fatal("results alongside an error")
			}
			return
		}
		if hdr == nil {
			t.Fatal("success without a header")
		}
		for k, s := range got {
			if k == "" {
				t.Fatal("empty tensor name")
			}
			for _, d := range s.Dims {
				if d < 0 {
					t.Fatalf("%s: negative dimension %v", k, s.Dims)
				}
			}
		}
	})
}

func TestNaturalCompare(t *testing.T) {
	keys := []string{
		"encoder/layer3/10/conv1/kernel",
		"encoder/layer4/0/bn1/beta",
		"encoder/layer3/6/conv1/kernel",
		"encoder/layer3/6/bn1/beta",
		"encoder/layer3",
		"encoder/layer10/0/bn1/beta",
		"encoder/layer3/22/conv1/kernel",
	}
	slices.SortFunc(keys, NaturalCompare)
	want := []string{
		"encoder/layer10/0/bn1/beta", // "layer10" is no number: compared as text
		"encoder/layer3",
		"encoder/layer3/6/bn1/beta",
		"encoder/layer3/6/conv1/kernel",
		"encoder/layer3/10/conv1/kernel",
		"encoder/layer3/22/conv1/kernel",
		"encoder/layer4/0/bn1/beta",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("sorted %q\nwant   %q", keys, want)
	}
}
