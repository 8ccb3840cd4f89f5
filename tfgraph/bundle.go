package tfgraph

// Reading a checkpoint's table of contents without TensorFlow.
//
// A V2 checkpoint PREFIX consists of PREFIX.index and one or more
// PREFIX.data-NNNNN-of-MMMMM shards. The index is an immutable sorted table
// in LevelDB's format (TensorFlow's tsl/lib/io/table):
//
//	[data block 0][trailer] ... [data block n][trailer]
//	[meta-index block][trailer] [index block][trailer] [footer]
//
// Every block is a run of prefix-compressed entries
// (varint shared, varint unshared, varint value length, key suffix, value)
// followed by an array of uint32 restart offsets and their uint32 count. A
// block's 5-byte trailer is its compression type (0 none, 1 snappy) and the
// masked CRC-32C of the stored block and the type byte. The 48-byte footer
// holds the BlockHandles (varint offset, varint size) of the meta-index and
// index blocks, zero padding, and the magic number 0xdb4775248b80fb57 (little
// endian). The index block maps a separator key to the handle of each data
// block.
//
// In the data blocks, the empty key holds a BundleHeaderProto and every
// other key a tensor name whose value is a BundleEntryProto (dtype, shape,
// shard, offset, size, crc). Keys that start with a NUL byte are the
// per-slice entries of partitioned variables; they are skipped, the full
// tensor's entry describes it.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/snappy"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// TensorSpec is a checkpointed tensor's element type and shape.
type TensorSpec struct {
	DType DataType
	Dims  []int64
}

// String renders the spec as "float32 [3 3 3 64]".
func (t TensorSpec) String() string { return DTypeName(t.DType) + " " + formatDims(t.Dims) }

const (
	tableMagic        = 0xdb4775248b80fb57
	tableFooterLen    = 48
	blockTrailerLen   = 5
	maxIndexFileBytes = 1 << 30
	// maxBlockBytes bounds one (decompressed) block; TF writes blocks of a
	// few KiB, far below this.
	maxBlockBytes = 1 << 28
)

// ReadCheckpointIndex lists the tensors of the checkpoint at prefix (the
// path without ".index") from PREFIX.index alone, in pure Go: no TensorFlow
// call, no data shard read. The result maps tensor names to their dtype and
// shape. Malformed files give an error naming the file, never a panic.
func ReadCheckpointIndex(prefix string) (map[string]TensorSpec, error) {
	specs, _, err := readIndex(prefix)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	return specs, nil
}

// readIndex reads and parses PREFIX.index, refusing files larger than
// maxIndexFileBytes, and returns the tensors and the bundle header. Errors
// name the file.
func readIndex(prefix string) (map[string]TensorSpec, *pb.BundleHeaderProto, error) {
	path := prefix + ".index"
	b, err := readIndexFile(path)
	if err != nil {
		return nil, nil, err
	}
	specs, header, err := parseCheckpointIndex(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return specs, header, nil
}

// readIndexFile returns the bytes of the index file at path, refusing
// files larger than maxIndexFileBytes.
func readIndexFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	tooBig := func(n int64) error {
		return fmt.Errorf("%s is %d bytes, more than an index file can plausibly be", path, n)
	}
	if st.Size() > maxIndexFileBytes {
		return nil, tooBig(st.Size())
	}
	// The limit also holds if the file grows after the Stat.
	b, err := io.ReadAll(io.LimitReader(f, maxIndexFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxIndexFileBytes {
		return nil, tooBig(int64(len(b)))
	}
	return b, nil
}

// errIndex marks a malformed index file.
var errIndex = errors.New("not a valid TensorFlow checkpoint index")

func indexErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errIndex, fmt.Sprintf(format, args...))
}

// parseCheckpointIndex decodes the bytes of an index file and returns the
// tensors and the bundle header.
func parseCheckpointIndex(b []byte) (map[string]TensorSpec, *pb.BundleHeaderProto, error) {
	var header *pb.BundleHeaderProto
	specs := map[string]TensorSpec{}
	err := scanTable(b, func(key, value []byte) error {
		if len(key) == 0 {
			h := &pb.BundleHeaderProto{}
			if err := proto.Unmarshal(value, h); err != nil {
				return indexErr("bundle header: %v", err)
			}
			header = h
			return nil
		}
		if key[0] == 0 {
			return nil // a slice of a partitioned tensor
		}
		e := &pb.BundleEntryProto{}
		if err := proto.Unmarshal(value, e); err != nil {
			return indexErr("entry %q: %v", key, err)
		}
		sh := e.GetShape()
		if sh.GetUnknownRank() {
			return indexErr("entry %q has an unknown rank", key)
		}
		dims := make([]int64, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			if d.GetSize() < 0 {
				return indexErr("entry %q has dimension %d of size %d", key, i, d.GetSize())
			}
			dims[i] = d.GetSize()
		}
		specs[string(key)] = TensorSpec{DType: DataType(e.GetDtype()), Dims: dims}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if header == nil {
		return nil, nil, indexErr("no bundle header (the entry with the empty key)")
	}
	if header.GetNumShards() < 1 {
		return nil, nil, indexErr("bundle header says %d data shards", header.GetNumShards())
	}
	if header.GetEndianness() != pb.BundleHeaderProto_LITTLE {
		return nil, nil, indexErr("big-endian checkpoints are not supported")
	}
	return specs, header, nil
}

// blockHandle locates a block in the file.
type blockHandle struct{ offset, size uint64 }

// readHandle decodes a BlockHandle and returns the remaining bytes.
func readHandle(b []byte) (blockHandle, []byte, error) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, nil, indexErr("bad block handle")
	}
	b = b[n:]
	size, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, nil, indexErr("bad block handle")
	}
	return blockHandle{off, size}, b[n:], nil
}

// scanTable calls fn for every key/value of the table in file order.
func scanTable(file []byte, fn func(key, value []byte) error) error {
	if len(file) < tableFooterLen {
		return indexErr("%d bytes, shorter than the %d-byte table footer (truncated file?)", len(file), tableFooterLen)
	}
	footer := file[len(file)-tableFooterLen:]
	if m := binary.LittleEndian.Uint64(footer[tableFooterLen-8:]); m != tableMagic {
		return indexErr("bad magic number %#x at the end of the file (truncated or not an index file?)", m)
	}
	metaHandle, rest, err := readHandle(footer)
	if err != nil {
		return err
	}
	indexHandle, _, err := readHandle(rest)
	if err != nil {
		return err
	}
	body := file[:len(file)-tableFooterLen]
	// The meta-index block is empty in TensorFlow's tables; reading it
	// checks its checksum, so every byte before the footer is verified.
	if _, err := readBlock(body, metaHandle); err != nil {
		return fmt.Errorf("meta-index block: %w", err)
	}
	index, err := readBlock(body, indexHandle)
	if err != nil {
		return fmt.Errorf("index block: %w", err)
	}
	return scanBlock(index, func(_, v []byte) error {
		h, _, err := readHandle(v)
		if err != nil {
			return err
		}
		data, err := readBlock(body, h)
		if err != nil {
			return fmt.Errorf("data block at %d: %w", h.offset, err)
		}
		return scanBlock(data, fn)
	})
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// unmaskCRC undoes LevelDB's CRC masking.
func unmaskCRC(m uint32) uint32 {
	r := m - 0xa282ead8
	return r>>17 | r<<15
}

// readBlock returns the contents of the block at h (decompressed), after
// checking its trailer's checksum.
func readBlock(file []byte, h blockHandle) ([]byte, error) {
	n := uint64(len(file))
	if h.offset > n || h.size > n || h.size+blockTrailerLen > n-h.offset {
		return nil, indexErr("block [%d, +%d) lies outside the %d-byte file (truncated file?)", h.offset, h.size, n)
	}
	raw := file[h.offset : h.offset+h.size]
	trailer := file[h.offset+h.size : h.offset+h.size+blockTrailerLen]
	want := unmaskCRC(binary.LittleEndian.Uint32(trailer[1:]))
	crc := crc32.Update(crc32.Checksum(raw, castagnoli), castagnoli, trailer[:1])
	if crc != want {
		return nil, indexErr("block at %d fails its checksum (corrupt file)", h.offset)
	}
	switch trailer[0] {
	case 0:
		return raw, nil
	case 1:
		out, err := snappyDecode(raw)
		if err != nil {
			return nil, indexErr("block at %d: %v", h.offset, err)
		}
		return out, nil
	}
	return nil, indexErr("block at %d has unknown compression type %d", h.offset, trailer[0])
}

// scanBlock calls fn for every entry of a block, with the full key.
func scanBlock(block []byte, fn func(key, value []byte) error) error {
	if len(block) < 4 {
		return indexErr("block of %d bytes is too short", len(block))
	}
	restarts := uint64(binary.LittleEndian.Uint32(block[len(block)-4:]))
	if restarts == 0 || restarts > uint64(len(block)-4)/4 {
		return indexErr("block claims %d restart points in %d bytes", restarts, len(block))
	}
	data := block[:uint64(len(block))-4-4*restarts]
	var key []byte
	for len(data) > 0 {
		var v [3]uint64
		for i := range v {
			x, n := binary.Uvarint(data)
			if n <= 0 {
				return indexErr("bad entry header in block")
			}
			v[i], data = x, data[n:]
		}
		shared, unshared, vlen := v[0], v[1], v[2]
		if shared > uint64(len(key)) || unshared > uint64(len(data)) || vlen > uint64(len(data))-unshared {
			return indexErr("entry overruns its block")
		}
		key = append(key[:shared:shared], data[:unshared]...)
		value := data[unshared : unshared+vlen]
		data = data[unshared+vlen:]
		if err := fn(key, value); err != nil {
			return err
		}
	}
	return nil
}

// snappyDecode decodes one Snappy block (the raw format, no framing) with
// the strict decoder of github.com/klauspost/compress/snappy, which takes
// standard Snappy only (not the S2 extensions its Decode accepts). The
// length in the block's header is checked first: a 3-byte copy yields at
// most 64 bytes, so valid input cannot expand more than about 22-fold, and
// refusing more keeps garbage from allocating.
func snappyDecode(src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("snappy: bad length: %w", err)
	}
	if n > maxBlockBytes || uint64(n) > 32*uint64(len(src))+64 {
		return nil, fmt.Errorf("snappy: implausible length %d for %d input bytes", n, len(src))
	}
	dst, err := snappy.DecodeStrict(nil, src)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	return dst, nil
}

// IncompatibleError says why a checkpoint cannot be restored into a set of
// variables. Problems holds one line per variable, sorted by name.
type IncompatibleError struct {
	Prefix   string
	Problems []string
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("checkpoint %s does not fit the model (%d problems):\n  %s",
		e.Prefix, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// CheckCompatible checks, from the index alone, that the checkpoint at
// prefix holds every variable of vars with the same dtype and shape, and
// nothing else under the scopes those variables live in (the part of a key
// up to its first "/": "encoder/", "projector/"). The error is an
// *IncompatibleError listing every missing variable and every mismatch by
// name, e.g. "encoder/conv1/kernel: checkpoint has [3 3 3 16], model wants
// [3 3 3 64]", and every scope with keys the model lacks, which is how a
// checkpoint of a deeper network shows itself when all the shallower
// network's tensors are in it with the same shapes. Tensors under other
// scopes (a head, optimizer slots of a different run) are fine. This is the
// one check resume, export, kNN and linear evaluation make before they
// restore.
func CheckCompatible(prefix string, vars []*Variable) error {
	specs, err := ReadCheckpointIndex(prefix)
	if err != nil {
		return err
	}
	var probs []string
	own := make(map[string]bool, len(vars))
	scopes := map[string]bool{}
	for _, v := range vars {
		own[v.Key] = true
		if i := strings.Index(v.Key, "/"); i > 0 {
			scopes[v.Key[:i+1]] = true
		}
	}
	empty := map[string]bool{}
	for scope := range scopes {
		var extra []string
		held := 0
		for key := range specs {
			if strings.HasPrefix(key, scope) {
				held++
				if !own[key] {
					extra = append(extra, key)
				}
			}
		}
		switch {
		case held == 0:
			empty[scope] = true // one line for the scope, not one per variable
			probs = append(probs, fmt.Sprintf("%s: the checkpoint holds no variables under it (a checkpoint of another model?)", scope))
		case len(extra) > 0:
			slices.SortFunc(extra, NaturalCompare)
			probs = append(probs, fmt.Sprintf("%s: the checkpoint holds %d variables the model does not have, first %s (a deeper or different network?)",
				scope, len(extra), extra[0]))
		}
	}
	for _, v := range vars {
		if i := strings.Index(v.Key, "/"); i > 0 && empty[v.Key[:i+1]] {
			continue
		}
		sp, ok := specs[v.Key]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("%s: missing from the checkpoint (model wants %s %s)", v.Key, DTypeName(v.DType), formatDims(v.Dims)))
		case sp.DType != v.DType:
			probs = append(probs, fmt.Sprintf("%s: checkpoint has %s, model wants %s", v.Key, sp, TensorSpec{v.DType, v.Dims}))
		case !equalDims(sp.Dims, v.Dims):
			probs = append(probs, fmt.Sprintf("%s: checkpoint has %s, model wants %s", v.Key, formatDims(sp.Dims), formatDims(v.Dims)))
		}
	}
	if len(probs) == 0 {
		return nil
	}
	sort.Strings(probs)
	return &IncompatibleError{Prefix: prefix, Problems: probs}
}

// NaturalCompare orders checkpoint keys path element by path element,
// numbers by value: "encoder/layer3/6" before "encoder/layer3/10".
func NaturalCompare(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx == nil && erry == nil {
			return cmp.Compare(x, y)
		}
		return strings.Compare(as[i], bs[i])
	}
	return cmp.Compare(len(as), len(bs))
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func formatDims(d []int64) string { return fmt.Sprint(d) }

// DTypeName names a dtype as NumPy does ("float32", "int64", "uint8"), or
// "dtype(N)" for types without a short name.
func DTypeName(dt DataType) string {
	switch dt {
	case Float:
		return "float32"
	case Double:
		return "float64"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Uint8:
		return "uint8"
	case String:
		return "string"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int(dt))
}

// maxStringEntryBytes bounds the string tensors ReadCheckpointString reads:
// it is for small records (a JSON config), not for data.
const maxStringEntryBytes = 1 << 20

// ReadCheckpointString returns the string scalar stored under key in the
// checkpoint at prefix, in pure Go like ReadCheckpointIndex: the entry is
// found in PREFIX.index and its bytes read from the data shard it names,
// checked against the entry's size and CRC-32C. found is false (and err
// nil) when the checkpoint has no such key, as in checkpoints written before
// the key existed.
//
// A string tensor is stored in the shard as the varint64 length of every
// element, a 4-byte checksum of those lengths, then the element bytes; for
// a scalar that is one length, the checksum and the string.
func ReadCheckpointString(prefix, key string) (value string, found bool, err error) {
	_, header, entries, err := readIndexEntries(prefix, key)
	if err != nil {
		return "", false, fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	e := entries[key]
	if e == nil {
		return "", false, nil
	}
	fail := func(format string, args ...any) (string, bool, error) {
		return "", true, fmt.Errorf("checkpoint %s: entry %q: %s", prefix, key, fmt.Sprintf(format, args...))
	}
	if DataType(e.GetDtype()) != String || len(e.GetShape().GetDim()) != 0 {
		return fail("is %s, not a string scalar", TensorSpec{DataType(e.GetDtype()), dimsOf(e)})
	}
	if e.GetShardId() < 0 || e.GetShardId() >= header.GetNumShards() {
		return fail("names data shard %d of %d", e.GetShardId(), header.GetNumShards())
	}
	if e.GetSize() < 5 || e.GetSize() > maxStringEntryBytes || e.GetOffset() < 0 {
		return fail("implausible size %d at offset %d", e.GetSize(), e.GetOffset())
	}
	shard := fmt.Sprintf("%s.data-%05d-of-%05d", prefix, e.GetShardId(), header.GetNumShards())
	f, err := os.Open(shard)
	if err != nil {
		return "", true, fmt.Errorf("checkpoint %s: %w", prefix, err)
	}
	defer f.Close()
	b := make([]byte, e.GetSize())
	if _, err := f.ReadAt(b, e.GetOffset()); err != nil {
		return fail("reading %d bytes at %d of %s: %v (truncated file?)", len(b), e.GetOffset(), shard, err)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k-4) != n {
		return fail("string of %d bytes does not fill the %d-byte entry", n, len(b))
	}
	// TensorFlow's checksum covers each length as a little-endian uint32
	// (not its varint; lengths past 4 GiB as uint64, far above the bound
	// here), then the lengths' checksum and the string bytes.
	var l4 [4]byte
	binary.LittleEndian.PutUint32(l4[:], uint32(n))
	crc := crc32.Update(crc32.Checksum(l4[:], castagnoli), castagnoli, b[k:])
	if crc != unmaskCRC(e.GetCrc32C()) {
		return fail("fails its checksum in %s (corrupt file)", shard)
	}
	return string(b[k+4:]), true, nil
}

// readIndexEntries reads the index like readIndex and also returns the
// full entries of the keys asked for.
func readIndexEntries(prefix string, keys ...string) (map[string]TensorSpec, *pb.BundleHeaderProto, map[string]*pb.BundleEntryProto, error) {
	specs, header, err := readIndex(prefix)
	if err != nil {
		return nil, nil, nil, err
	}
	entries := map[string]*pb.BundleEntryProto{}
	want := map[string]bool{}
	for _, k := range keys {
		if _, ok := specs[k]; ok {
			want[k] = true
		}
	}
	if len(want) == 0 {
		return specs, header, entries, nil
	}
	b, err := os.ReadFile(prefix + ".index")
	if err != nil {
		return nil, nil, nil, err
	}
	err = scanTable(b, func(key, value []byte) error {
		if !want[string(key)] {
			return nil
		}
		e := &pb.BundleEntryProto{}
		if err := proto.Unmarshal(value, e); err != nil {
			return indexErr("entry %q: %v", key, err)
		}
		entries[string(key)] = e
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s.index: %w", prefix, err)
	}
	return specs, header, entries, nil
}

func dimsOf(e *pb.BundleEntryProto) []int64 {
	var d []int64
	for _, x := range e.GetShape().GetDim() {
		d = append(d, x.GetSize())
	}
	return d
}
