package tfgraph

// Verifying a checkpoint's tensors against its index without TensorFlow.

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
	"strconv"

	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

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
