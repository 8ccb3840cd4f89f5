package data

import (
	"errors"
	"io"
	"math"
	"os"
)

// streamChunk is the number of records the binary readers read per call,
// bounding their scratch buffer to a few megabytes.
const streamChunk = 64

// openSized opens path and returns it with its size in bytes.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err // *PathError names the file
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, formatErr(path, -1, "not a regular file (mode %v)", st.Mode())
	}
	return f, st.Size(), nil
}

// readSmallFile reads a whole file that is expected to be small, refusing
// files larger than limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, formatErr(path, -1, "file is %d bytes, expected at most %d", size, limit)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, ioErr(path, err)
	}
	return b, nil
}

// recordCount checks that a file of size bytes holds a whole, non-zero number
// of records of recSize bytes and returns that number. what describes one
// record for the message, e.g. "3x96x96 bytes per image".
func recordCount(name string, size int64, recSize int, what string) (int, error) {
	if size == 0 {
		return 0, formatErr(name, -1, "file is empty, expected a positive multiple of %d bytes (%s)", recSize, what)
	}
	if size < 0 || size%int64(recSize) != 0 {
		return 0, formatErr(name, -1, "size %d bytes is not a multiple of %d bytes (%s): %d whole records and %d extra bytes",
			size, recSize, what, size/int64(recSize), size%int64(recSize))
	}
	n := size / int64(recSize)
	if n > math.MaxInt/int64(recSize) {
		return 0, formatErr(name, -1, "%d records do not fit in memory on this platform", n)
	}
	return int(n), nil
}

// readRecords reads n records of recSize bytes from r, streaming them through
// a buffer of at most streamChunk records, and calls each(i, rec) for record
// i. A short read is reported as a truncation naming the file and record.
func readRecords(r io.Reader, n, recSize int, name string, each func(i int, rec []byte) error) error {
	chunk := min(n, streamChunk)
	buf := make([]byte, chunk*recSize)
	for done := 0; done < n; {
		k := min(chunk, n-done)
		b := buf[:k*recSize]
		got, err := io.ReadFull(r, b)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return formatErr(name, done+got/recSize, "truncated: expected %d bytes (%d records of %d), data ended after %d bytes",
					int64(n)*int64(recSize), n, recSize, int64(done)*int64(recSize)+int64(got))
			}
			return ioErr(name, err)
		}
		for j := 0; j < k; j++ {
			if err := each(done+j, b[j*recSize:(j+1)*recSize]); err != nil {
				return err
			}
		}
		done += k
	}
	return nil
}
