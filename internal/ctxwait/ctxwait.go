// Package ctxwait runs a blocking call that cannot be interrupted (reading
// a data set, a TensorFlow call) so that its caller returns as soon as a
// context is done.
package ctxwait

import "context"

// Do runs f in a goroutine and returns its result, or ctx's error as soon as
// ctx is done. An abandoned f runs to its end in the background and its
// result is dropped, so use Do where a cancelled context ends the program
// or where f's result is plain memory that the garbage collector reclaims.
func Do[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned f does not block
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
