package tfgraph

import (
	"strings"
	"syscall"
)

// oomHint starts the advice TensorFlow appends to every RESOURCE_EXHAUSTED
// status, a full disk included, where it only misleads.
const oomHint = "Hint: If you want to see a list of allocated tensors when OOM happens"

// noSpaceError is a TensorFlow error caused by a full disk: its message
// without the OOM advice; errors.Is(err, syscall.ENOSPC) holds.
type noSpaceError struct {
	err error
	msg string
}

func (e *noSpaceError) Error() string   { return e.msg }
func (e *noSpaceError) Unwrap() []error { return []error{e.err, syscall.ENOSPC} }

// noSpace marks a TensorFlow error that says "No space left on device" and
// drops the OOM advice from its message; other errors pass unchanged.
// Session.Run passes every error through it.
func noSpace(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "No space left on device") {
		return err
	}
	if i := strings.Index(msg, oomHint); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return &noSpaceError{err: err, msg: msg}
}
