package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"syscall"
	"time"
)

// tfNoise matches TensorFlow's info and warning log lines, in absl's format
// ("I0000 00:00:1796113620.162320   12870 file.cc:12] ...") and in TF's own
// ("2026-12-01 08:27:00.212196: I tensorflow/core/...cc:210] ..."), absl's
// pre-initialisation banner, the second line of the CPU feature notice, and
// the error lines the CUDA build writes although nothing is wrong: plugins
// registered twice, and no CUDA driver on a machine without a GPU (train's
// first line names the device it uses). TF 2.18 writes most of these
// through absl before InitializeLog, which TF_CPP_MIN_LOG_LEVEL does not
// filter, and they tear the progress line. Other errors pass.
var tfNoise = regexp.MustCompile(`^(` +
	`[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ` +
	`|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] [\w/.-]+:\d+\] ` +
	`|WARNING: All log messages before absl::InitializeLog` +
	`|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags` +
	`|(E\d{4} [\d:.]+ +\d+ |\d{4}-\d\d-\d\d [\d:.]+: E )[\w/.-]+:\d+\] ` +
	`(Unable to register cu(FFT|DNN|BLAS) factory|failed call to cuInit|Could not find cuda drivers)` +
	`)`)

// filterTFLogs routes file descriptor 2 through a pipe that drops TF's info
// and warning lines; errors and everything else pass through unchanged. It
// returns a function that flushes the filter (call it before exiting). With
// TF_CPP_MIN_LOG_LEVEL set to 0 or 1 nothing is filtered.
func filterTFLogs() func() {
	if lvl := os.Getenv("TF_CPP_MIN_LOG_LEVEL"); lvl == "0" || lvl == "1" {
		return func() {}
	}
	orig, err := syscall.Dup(2)
	if err != nil {
		return func() {}
	}
	syscall.CloseOnExec(orig) // a restart (see restart) must not inherit it
	r, w, err := os.Pipe()
	if err != nil {
		syscall.Close(orig)
		return func() {}
	}
	if err := syscall.Dup2(int(w.Fd()), 2); err != nil {
		syscall.Close(orig)
		r.Close()
		w.Close()
		return func() {}
	}
	out := os.NewFile(uintptr(orig), "stderr")
	os.Stderr = out // Go's own messages bypass the filter
	// The runtime writes panics, fatal errors and SIGQUIT's goroutine dump
	// to fd 2, the pipe, whose reader dies with the process: send them to
	// the real stderr as well, so a crash always shows its cause.
	if err := debug.SetCrashOutput(out, debug.CrashOptions{}); err != nil {
		fmt.Fprintln(out, "simsiam: warning: crash reports may be lost:", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyFiltered(out, r)
	}()
	return func() {
		syscall.Dup2(orig, 2) // closes the pipe's last writer held by fd 2
		w.Close()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
}

// copyFiltered copies lines from r to w, dropping TF's noise.
func copyFiltered(w io.Writer, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 && !tfNoise.MatchString(line) {
			io.WriteString(w, line)
		}
		if err != nil {
			return
		}
	}
}
