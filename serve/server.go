package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ServerOptions configure NewServer. Zero durations take the defaults of
// DefaultServerOptions.
type ServerOptions struct {
	// Addr is the address to listen on, host:port (port 0 picks a free
	// one).
	Addr string
	// ReadHeaderTimeout is the time a client has to send the headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is the time a client has to send the whole request.
	ReadTimeout time.Duration
	// WriteTimeout runs from the end of the headers to the end of the
	// response.
	WriteTimeout time.Duration
	// IdleTimeout is how long an idle keep-alive connection stays open.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long the requests under way may take to finish
	// once Run's context is done.
	ShutdownTimeout time.Duration
}

// DefaultServerOptions are simsiam serve's defaults (Addr 127.0.0.1:8501,
// TensorFlow Serving's REST port).
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		Addr:              "127.0.0.1:8501",
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
	}
}

// Server is an HTTPHandler on a listening socket with its lifecycle: it
// serves until Run's context is done, then stops accepting connections,
// runs the batches waiting to fill at once, lets the requests under way
// finish (within ShutdownTimeout) and closes the handler.
type Server struct {
	h   *HTTPHandler
	o   ServerOptions
	l   net.Listener
	srv *http.Server
}

// NewServer listens on o.Addr for h. Run serves; the Server owns h from
// now on (Run closes it; so does Close when Run is never called).
func NewServer(h *HTTPHandler, o ServerOptions) (*Server, error) {
	if h == nil {
		return nil, errors.New("serve: no handler")
	}
	d := DefaultServerOptions()
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.ReadHeaderTimeout, d.ReadHeaderTimeout}, {&o.ReadTimeout, d.ReadTimeout}, {&o.WriteTimeout, d.WriteTimeout}, {&o.IdleTimeout, d.IdleTimeout}, {&o.ShutdownTimeout, d.ShutdownTimeout}} {
		if *p.v < 0 {
			return nil, fmt.Errorf("serve: negative timeout %v", *p.v)
		}
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	if o.Addr == "" {
		o.Addr = d.Addr
	}
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	return &Server{h: h, o: o, l: l, srv: srv}, nil
}

// Addr is the address the server listens on (with the port picked for
// port 0).
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// URL is the model's base URL, http://ADDR/v1/models/NAME.
func (s *Server) URL() string {
	return fmt.Sprintf("http://%s/v1/models/%s", s.l.Addr(), s.h.o.Name)
}

// Run serves until ctx is done and then shuts down as Server describes. It
// returns nil after a clean shutdown (also when ctx is done before Run is
// called), an error when serving failed or requests were still under way
// after ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.l) }()
	select {
	case err := <-served:
		s.h.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Stop accepting, run the batches that wait to fill at once and let the
	// requests under way finish.
	s.h.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	s.h.Close()
	if err != nil {
		return fmt.Errorf("serve: requests still under way after the shutdown timeout of %v (simsiam serve --shutdown-timeout): %w", s.o.ShutdownTimeout, err)
	}
	return nil
}

// Close stops a Server at once (requests under way are cut) and closes the
// handler; for a Server whose Run was never called, or to give up.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.l.Close()
	s.h.Close()
	return err
}
