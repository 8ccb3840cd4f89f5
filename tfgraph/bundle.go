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
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/snappy"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
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

// CorruptCheckpointError says why the files of the checkpoint at Prefix
// fail VerifyCheckpoint: Tensor names the tensor whose bytes are wrong (""
// when the index itself is unreadable) and Reason the problem.
type CorruptCheckpointError struct {
	Prefix, Tensor, Reason string
}

// Detail is the error without the checkpoint's prefix, e.g. "tensor
// encoder/conv1/kernel: crc32c mismatch at bytes [0, 1728) of
// ckpt-12.data-00000-of-00001".
func (e *CorruptCheckpointError) Detail() string {
	if e.Tensor == "" {
		return e.Reason
	}
	return "tensor " + e.Tensor + ": " + e.Reason
}

func (e *CorruptCheckpointError) Error() string { return "checkpoint " + e.Prefix + ": " + e.Detail() }

// verifyBufBytes is the buffer VerifyCheckpoint streams tensor bytes
// through: its memory does not grow with the checkpoint.
const verifyBufBytes = 1 << 20

// VerifyCheckpoint checks, in pure Go and without a session, that the
// checkpoint at prefix is whole: its index parses with every block
// checksum right, and every tensor's bytes lie inside the data shard the
// index names, have the size its dtype and shape need and the CRC-32C the
// index records (what TensorFlow checks only while restoring). Each
// tensor is streamed through one 1 MiB buffer; no shard is loaded whole.
// A checkpoint that fails, a missing shard included, gives a
// *CorruptCheckpointError; other errors (a shard that cannot be opened for
// lack of permission) are returned wrapped.
func VerifyCheckpoint(prefix string) error {
	bad := func(tensor, format string, args ...any) error {
		return &CorruptCheckpointError{Prefix: prefix, Tensor: tensor, Reason: fmt.Sprintf(format, args...)}
	}
	index := prefix + ".index"
	b, err := readIndexFile(index)
	if errors.Is(err, os.ErrNotExist) {
		return bad("", "%s is missing", filepath.Base(index))
	}
	if err != nil {
		return bad("", "%v", err)
	}
	_, header, err := parseCheckpointIndex(b)
	if err != nil {
		return bad("", "%s: %v", filepath.Base(index), err)
	}
	type tensor struct {
		name string
		e    *pb.BundleEntryProto
	}
	var tensors []tensor
	err = scanTable(b, func(key, value []byte) error {
		if len(key) == 0 {
			return nil
		}
		e := &pb.BundleEntryProto{}
		if err := proto.Unmarshal(value, e); err != nil {
			return indexErr("entry %q: %v", key, err)
		}
		if len(e.GetSlices()) > 0 {
			return nil // a partitioned tensor: its slices' entries hold the bytes
		}
		name := string(key)
		if key[0] == 0 {
			name = strconv.Quote(name)
		}
		tensors = append(tensors, tensor{name, e})
		return nil
	})
	if err != nil {
		return bad("", "%s: %v", filepath.Base(index), err)
	}
	// Read every shard front to back.
	slices.SortFunc(tensors, func(a, b tensor) int {
		return cmp.Or(cmp.Compare(a.e.GetShardId(), b.e.GetShardId()), cmp.Compare(a.e.GetOffset(), b.e.GetOffset()))
	})
	buf := make([]byte, verifyBufBytes)
	var f *os.File
	var shard string
	var shardSize int64
	shardID := int32(-1)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for _, t := range tensors {
		e := t.e
		if e.GetShardId() < 0 || e.GetShardId() >= header.GetNumShards() {
			return bad(t.name, "names data shard %d of %d", e.GetShardId(), header.GetNumShards())
		}
		if e.GetShardId() != shardID {
			if f != nil {
				f.Close()
				f = nil
			}
			shardID = e.GetShardId()
			path := fmt.Sprintf("%s.data-%05d-of-%05d", prefix, shardID, header.GetNumShards())
			shard = filepath.Base(path)
			if f, err = os.Open(path); errors.Is(err, os.ErrNotExist) {
				return bad("", "%s is missing", shard)
			} else if err != nil {
				return fmt.Errorf("checkpoint %s: %w", prefix, err)
			}
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("checkpoint %s: %w", prefix, err)
			}
			shardSize = st.Size()
		}
		off, size := e.GetOffset(), e.GetSize()
		if off < 0 || size < 0 || off > shardSize || size > shardSize-off {
			return bad(t.name, "bytes [%d, %d) lie past the end of %s (%d bytes; truncated file?)", off, off+size, shard, shardSize)
		}
		if t.name[0] != '"' { // a slice's shape is its tensor's, not its own
			if want, ok := fixedBytes(DataType(e.GetDtype()), dimsOf(e)); ok && want != size {
				return bad(t.name, "%d bytes in %s, but %s needs %d", size, shard, TensorSpec{DataType(e.GetDtype()), dimsOf(e)}, want)
			}
		}
		sr := io.NewSectionReader(f, off, size)
		var crc uint32
		if DataType(e.GetDtype()) == String {
			crc, err = stringTensorCRC(sr, numElements(dimsOf(e)), buf)
		} else {
			crc, err = streamCRC(0, sr, size, buf)
		}
		if err != nil {
			return bad(t.name, "bytes [%d, %d) of %s: %v", off, off+size, shard, err)
		}
		if crc != unmaskCRC(e.GetCrc32C()) {
			return bad(t.name, "crc32c mismatch at bytes [%d, %d) of %s", off, off+size, shard)
		}
	}
	return nil
}

// streamCRC extends crc by the next n bytes of r, read through buf.
func streamCRC(crc uint32, r io.Reader, n int64, buf []byte) (uint32, error) {
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		n -= int64(len(chunk))
	}
	return crc, nil
}

// stringTensorCRC computes the CRC-32C TensorFlow records for a string
// tensor of n elements stored in r (see ReadCheckpointString for the
// layout), checking the lengths' own checksum and that the lengths fill
// the entry exactly.
func stringTensorCRC(r *io.SectionReader, n int64, buf []byte) (uint32, error) {
	size := r.Size()
	if n < 0 || n > size {
		return 0, fmt.Errorf("%d elements cannot fit in %d bytes", n, size)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var crc uint32
	var used, total int64 // the lengths' bytes; the strings' bytes
	for i := int64(0); i < n; i++ {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, fmt.Errorf("element %d's length: %w", i, err)
		}
		used += int64(uvarintLen(l))
		if l > uint64(size) {
			return 0, fmt.Errorf("element %d of %d bytes in a %d-byte entry", i, l, size)
		}
		total += int64(l)
		if l <= math.MaxUint32 {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(l))
			crc = crc32.Update(crc, castagnoli, b[:])
		} else {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], l)
			crc = crc32.Update(crc, castagnoli, b[:])
		}
	}
	var stored [4]byte
	if _, err := io.ReadFull(br, stored[:]); err != nil {
		return 0, fmt.Errorf("the lengths' checksum: %w", err)
	}
	if binary.LittleEndian.Uint32(stored[:]) != maskCRC(crc) {
		return 0, errors.New("the string lengths fail their checksum")
	}
	crc = crc32.Update(crc, castagnoli, stored[:])
	if used+4+total != size {
		return 0, fmt.Errorf("%d strings of %d bytes in all do not fill the %d-byte entry", n, total, size)
	}
	return streamCRC(crc, br, total, buf)
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// maskCRC is LevelDB's CRC masking, the inverse of unmaskCRC.
func maskCRC(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }

// numElements is the element count of a shape (1 for a scalar), or -1
// when it overflows.
func numElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || (d > 0 && n > math.MaxInt64/d) {
			return -1
		}
		n *= d
	}
	return n
}

// fixedBytes is the stored size of a tensor of a fixed-width dtype; ok is
// false for other dtypes (strings, variants) and overflowing shapes.
func fixedBytes(dt DataType, dims []int64) (int64, bool) {
	var w int64
	switch typespb.DataType(dt) {
	case typespb.DataType_DT_BOOL, typespb.DataType_DT_INT8, typespb.DataType_DT_UINT8, typespb.DataType_DT_QINT8, typespb.DataType_DT_QUINT8:
		w = 1
	case typespb.DataType_DT_HALF, typespb.DataType_DT_BFLOAT16, typespb.DataType_DT_INT16, typespb.DataType_DT_UINT16, typespb.DataType_DT_QINT16, typespb.DataType_DT_QUINT16:
		w = 2
	case typespb.DataType_DT_FLOAT, typespb.DataType_DT_INT32, typespb.DataType_DT_UINT32, typespb.DataType_DT_QINT32:
		w = 4
	case typespb.DataType_DT_DOUBLE, typespb.DataType_DT_INT64, typespb.DataType_DT_UINT64, typespb.DataType_DT_COMPLEX64:
		w = 8
	case typespb.DataType_DT_COMPLEX128:
		w = 16
	default:
		return 0, false
	}
	n := numElements(dims)
	if n < 0 || n > math.MaxInt64/w {
		return 0, false
	}
	return n * w, true
}
