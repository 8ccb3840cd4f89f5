package tfgraph

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestWaitForServer: a real TF server answers at once; a closed port and
// a listener that is not gRPC (it accepts and says nothing, or speaks
// HTTP/1) fail at the deadline naming the address and why; a cancelled
// context ends the wait at once.
func TestWaitForServer(t *testing.T) {
	addr := freeAddr(t)
	if _, err := NewServer(Cluster{"worker": {addr}}, "worker", 0, ServerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WaitForServer(context.Background(), addr, 5*time.Second, 50*time.Millisecond); err != nil {
		t.Fatalf("a running TF server: %v", err)
	}

	closed := freeAddr(t)
	silent, stopSilent := listen(t, func(c net.Conn) { time.Sleep(3 * time.Second); c.Close() })
	defer stopSilent()
	http1, stopHTTP1 := listen(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		c.Close()
	})
	defer stopHTTP1()
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"closed port", closed, "connection refused"},
		{"silent listener", silent, "sent no HTTP/2 frame"},
		{"HTTP/1 listener", http1, "not a gRPC server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := WaitForServer(context.Background(), tc.addr, 700*time.Millisecond, 100*time.Millisecond)
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), tc.addr) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s and %q", err, tc.addr, tc.want)
			}
			if took > 3*time.Second {
				t.Errorf("took %v for a 700ms wait", took)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	if err := WaitForServer(ctx, closed, time.Minute, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled wait took %v", d)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// listen serves each connection with handle until stop is called.
func listen(t *testing.T, handle func(net.Conn)) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String(), func() { l.Close() }
}
