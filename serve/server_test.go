package serve

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestServerRun: Run serves until its context is done, then answers the
// request waiting in an open batch (an hour-long batch timeout), stops
// listening and returns nil; a context done before Run gives a prompt, clean
// stop.
func TestServerRun(t *testing.T) {
	f := exported(t)
	m, err := Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		name          string
		cancelEarly   bool
		wantRequest   bool
		wantRuns      int64
		maxRunSeconds float64
	}{
		{"in-flight request", false, true, 1, 30},
		{"cancelled before Run", true, false, 0, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := NewHTTPHandler(m, HTTPOptions{Name: "tiny", Batch: BatchOptions{MaxBatch: 8, Timeout: time.Hour, MaxPending: 8, Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := NewServer(h, ServerOptions{Addr: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if want := "http://" + srv.Addr().String() + "/v1/models/tiny"; srv.URL() != want {
				t.Errorf("URL %s, want %s", srv.URL(), want)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancelEarly {
				cancel()
			}
			ran := make(chan error, 1)
			start := time.Now()
			go func() { ran <- srv.Run(ctx) }()

			pix := randomPix(9, 16*16*3)
			want, err := m.Embed(pix, 1, 16, 16, 3)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan [][]float32, 1)
			if c.wantRequest {
				go func() {
					_, resp := post(t, srv.URL()+":predict", map[string]any{"instances": nested(pix, 1, 16, 16, 3)})
					got <- floats(t, resp["predictions"])
				}()
				deadline := time.Now().Add(10 * time.Second)
				for h.b.Pending() < 1 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if h.b.Pending() != 1 {
					t.Fatal("the request never reached the batcher")
				}
				select {
				case <-got:
					t.Fatal("answered before the shutdown, with an hour-long batch timeout")
				case <-time.After(100 * time.Millisecond):
				}
				cancel()
			}
			select {
			case err := <-ran:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(time.Duration(c.maxRunSeconds * float64(time.Second))):
				t.Fatalf("Run did not return within %v s of the cancel", c.maxRunSeconds)
			}
			if d := time.Since(start); c.cancelEarly && d > 2*time.Second {
				t.Errorf("a cancelled context took %v to stop", d)
			}
			if c.wantRequest {
				select {
				case g := <-got:
					exactlyEqual(t, "in-flight request", g, want)
				case <-time.After(10 * time.Second):
					t.Fatal("the in-flight request was not answered")
				}
			}
			if _, err := http.Get(srv.URL()); err == nil {
				t.Error("the server still accepts connections after Run returned")
			}
			if st := h.Stats(); st.Runs != c.wantRuns {
				t.Errorf("stats %+v, want %d runs", st, c.wantRuns)
			}
			if _, err := h.b.Submit(context.Background(), BatchKey{Signature: "serving_default", H: 1, W: 1, C: 3}, make([]byte, 3), 1); err != ErrClosed {
				t.Errorf("Submit after Run: %v, want ErrClosed (Run closes the handler)", err)
			}
		})
	}
}
