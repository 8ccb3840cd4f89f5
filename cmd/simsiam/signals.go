package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// stopSignals are the signals that stop a command: Ctrl-C, kill's default
// and the terminal going away.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// exitInterrupted is the status of a command cut short by a signal
// (128 + SIGINT, as shells report Ctrl-C).
const exitInterrupted = 130

// watchesContext are the commands that stop cleanly when their context is
// done: train checkpoints, the evaluations stop between batches, export
// abandons its output, server/worker exits, serve finishes the HTTP requests
// under way, results stops between measurements. The others exit at the
// first signal.
var watchesContext = map[string]bool{"train": true, "knn": true, "linear-eval": true, "export": true, "server": true, "worker": true, "serve": true, "results": true, "doctor": true}

// signalCause is the cause of a context cancelled by a signal.
type signalCause struct{ sig os.Signal }

func (c signalCause) Error() string { return "got " + signalName(c.sig) }

// signalName is the signal's conventional name (SIGTERM).
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return strings.ToUpper(s.String())
}

// handleSignals makes the first stop signal cancel the command's context
// (with a signalCause) when the command watches it, and exit at once with
// status 130 otherwise; a second signal always exits at once. Messages go
// to stderr. Call the returned function to restore the default handling.
func handleSignals(cancel context.CancelCauseFunc, graceful bool, stderr io.Writer, exit func(int)) func() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		first := true
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				if first && graceful {
					first = false
					// Ctrl-C also stops the rest of the pipeline (simsiam train | tee
					// log): a write to the closed pipe must fail, not kill the
					// process before it has checkpointed.
					signal.Ignore(syscall.SIGPIPE)
					fmt.Fprintf(stderr, "simsiam: %s: stopping cleanly (send another signal to exit at once)\n", signalName(s))
					cancel(signalCause{s})
					continue
				}
				fmt.Fprintf(stderr, "simsiam: %s: exiting at once\n", signalName(s))
				exit(exitInterrupted)
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// interrupted reports whether err is a command's reaction to its context
// being cancelled by a signal, and names the signal.
func interrupted(ctx context.Context, err error) (string, bool) {
	var sc signalCause
	if err == nil || ctx.Err() == nil || !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &sc) {
		return "", false
	}
	return signalName(sc.sig), true
}
