// Package progress draws a one-line progress bar on a terminal (or prints a
// line per step when the output is not a terminal).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar tracks done/total steps. A nil *Bar does nothing, so -quiet passes nil.
type Bar struct {
	w     io.Writer
	tty   bool
	total int
	done  int
	start time.Time
}

// New returns a bar writing to w; on a terminal it redraws in place.
func New(w io.Writer, total int) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			tty = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	return &Bar{w: w, tty: tty, total: max(total, 1), start: time.Now()}
}

// Step announces the step now starting.
func (b *Bar) Step(label string) {
	if b == nil {
		return
	}
	b.draw(label)
}

// Done marks one step finished.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.done = min(b.done+1, b.total)
}

// Finish ends the bar's line.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.done = b.total
	b.draw("done")
	if b.tty {
		fmt.Fprintln(b.w)
	}
}

// Line renders the bar text for done of total steps.
func Line(done, total int, elapsed time.Duration, label string) string {
	const width = 28
	fill := done * width / max(total, 1)
	eta := "?"
	if done > 0 {
		eta = (elapsed * time.Duration(total-done) / time.Duration(done)).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s%s] %3d%% %d/%d eta %s  %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		done*100/max(total, 1), done, total, eta, label)
}

func (b *Bar) draw(label string) {
	l := Line(b.done, b.total, time.Since(b.start), label)
	if b.tty {
		if len(l) > 118 {
			l = l[:118]
		}
		fmt.Fprintf(b.w, "\r\033[K%s", l)
	} else {
		fmt.Fprintln(b.w, l)
	}
}
