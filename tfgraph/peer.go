package tfgraph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
)

// ProbeServer checks once that a TensorFlow gRPC server answers at addr:
// that the port takes a connection and speaks HTTP/2 (gRPC's transport),
// answering the client preface with a SETTINGS frame within timeout.
// TensorFlow itself retries an absent or foreign peer without end and is
// deaf to signals while it does, so a worker asks this first.
func ProbeServer(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	notGRPC := func(err error) error {
		return fmt.Errorf("it accepts connections but sent no HTTP/2 frame (not a gRPC server?): %w", err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return notGRPC(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		return notGRPC(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		return notGRPC(err)
	}
	if _, ok := f.(*http2.SettingsFrame); !ok {
		return fmt.Errorf("it accepts connections but answered HTTP/2's preface with a %v frame, not SETTINGS (not a gRPC server)", f.Header().Type)
	}
	return nil
}

// WaitForServer probes addr (ProbeServer) until it answers, ctx ends or
// deadline passes, retrying every interval. The error names the address,
// the time waited and the last failure.
func WaitForServer(ctx context.Context, addr string, wait, interval time.Duration) error {
	start := time.Now()
	end := start.Add(wait)
	for {
		probe := min(max(time.Until(end), 100*time.Millisecond), 5*time.Second)
		err := ProbeServer(addr, probe)
		if err == nil {
			return nil
		}
		if time.Now().Add(interval).After(end) {
			return fmt.Errorf("no TensorFlow server answered at %s within %v: %w", addr, wait, err)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			cause := context.Cause(ctx)
			if !errors.Is(cause, ctx.Err()) {
				cause = fmt.Errorf("%w (%w)", ctx.Err(), cause)
			}
			return fmt.Errorf("waiting for the TensorFlow server at %s: %w; last: %w", addr, cause, err)
		case <-t.C:
		}
	}
}
