// Package progress prints training and evaluation progress: a single
// redrawn line with a bar on a terminal, and plain lines at a fixed interval
// otherwise (logs, CI), so files do not fill with carriage returns.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar reports the progress of Total units of work.
type Bar struct {
	w        io.Writer
	label    string
	total    int64
	tty      bool
	every    int64 // non-terminal: print every N units
	start    time.Time
	lastDraw time.Time
	done     bool
}

// New starts a bar labelled label over total units. Output on a terminal is
// redrawn in place; elsewhere a line is printed every `every` units (and at
// the end). w == nil discards everything.
func New(w io.Writer, label string, total, every int64) *Bar {
	if w == nil {
		w = io.Discard
	}
	if every <= 0 {
		every = 1
	}
	return &Bar{w: w, label: label, total: total, tty: IsTerminal(w), every: every, start: time.Now()}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Update reports that done units are finished; fields are appended as
// "key value" pairs in order (e.g. "loss", "-0.91").
func (b *Bar) Update(done int64, fields ...string) {
	if b.done {
		return
	}
	final := done >= b.total
	now := time.Now()
	if b.tty {
		if !final && now.Sub(b.lastDraw) < 100*time.Millisecond {
			return
		}
	} else if !final && done%b.every != 0 {
		return
	}
	b.lastDraw = now
	elapsed := now.Sub(b.start)
	var eta time.Duration
	if done > 0 && done < b.total {
		eta = time.Duration(float64(elapsed) / float64(done) * float64(b.total-done))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %d/%d", b.label, done, b.total)
	if b.tty {
		const width = 24
		filled := 0
		if b.total > 0 {
			filled = int(int64(width) * min(done, b.total) / b.total)
		}
		sb.WriteString(" [" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]")
	}
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&sb, " %s %s", fields[i], fields[i+1])
	}
	if final {
		fmt.Fprintf(&sb, " in %s", elapsed.Round(time.Second))
	} else {
		fmt.Fprintf(&sb, " eta %s", eta.Round(time.Second))
	}
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", sb.String())
		if final {
			fmt.Fprintln(b.w)
		}
	} else {
		fmt.Fprintln(b.w, sb.String())
	}
	if final {
		b.done = true
	}
}

// Finish ends the line on a terminal if the bar did not reach its total.
func (b *Bar) Finish() {
	if b.tty && !b.done {
		fmt.Fprintln(b.w)
	}
	b.done = true
}
