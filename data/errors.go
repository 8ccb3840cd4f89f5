package data

import (
	"errors"
	"fmt"
)

// FormatError reports a data file whose contents do not match the format it
// is read as. Msg says what was expected and what was found.
type FormatError struct {
	// File is the path (or caller-supplied name) of the offending file.
	File string
	// Record is the zero-based index of the offending record (image or
	// label), or -1 when the problem is not tied to one record.
	Record int
	// Msg describes the problem, including the expected and the found value.
	Msg string
}

// Error implements the error interface.
func (e *FormatError) Error() string {
	if e.Record >= 0 {
		return fmt.Sprintf("data: %s: record %d: %s", e.File, e.Record, e.Msg)
	}
	return fmt.Sprintf("data: %s: %s", e.File, e.Msg)
}

// ErrClosed is returned by [Prefetcher.Next] after [Prefetcher.Close].
var ErrClosed = errors.New("data: prefetcher closed")

// formatErr builds a *FormatError with a formatted message.
func formatErr(file string, record int, format string, args ...any) error {
	return &FormatError{File: file, Record: record, Msg: fmt.Sprintf(format, args...)}
}

// ioErr wraps an I/O error so that the message names the file. Errors from
// package os already carry the path, but wrapping readers (gzip, bytes) do
// not.
func ioErr(file string, err error) error {
	return fmt.Errorf("data: %s: %w", file, err)
}

// RecordError reports a TFRecord file whose framing or contents are wrong at
// one record: a truncated record, a length or data CRC that does not match,
// an oversized length, or a tf.train.Example that cannot be used (missing
// feature, wrong feature type, undecodable image).
type RecordError struct {
	// File is the path (or caller-supplied name) of the TFRecord file.
	File string
	// Offset is the byte offset in File at which the offending record starts.
	Offset int64
	// Record is the zero-based index of the record in File, or -1 when the
	// problem is not tied to one record.
	Record int
	// Msg describes the problem.
	Msg string
}

// Error implements the error interface.
func (e *RecordError) Error() string {
	if e.Record >= 0 {
		return fmt.Sprintf("data: %s: record %d at byte offset %d: %s", e.File, e.Record, e.Offset, e.Msg)
	}
	return fmt.Sprintf("data: %s: byte offset %d: %s", e.File, e.Offset, e.Msg)
}

// recordErr builds a *RecordError with a formatted message.
func recordErr(file string, offset int64, record int, format string, args ...any) error {
	return &RecordError{File: file, Offset: offset, Record: record, Msg: fmt.Sprintf(format, args...)}
}
