package ctxwait

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	v, err := Do(context.Background(), func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("finished call: %d, %v", v, err)
	}
	boom := errors.New("boom")
	if _, err := Do(context.Background(), func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("failed call: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	time.AfterFunc(50*time.Millisecond, cancel)
	t0 := time.Now()
	_, err = Do(ctx, func() (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("returned %v after the cancel, want at once", d)
	}
	called := false
	if _, err := Do(ctx, func() (int, error) { called = true; return 0, nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("done context: %v, called %v", err, called)
	}
}
