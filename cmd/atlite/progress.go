package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
)

// progress reports on stderr how far a long phase went: a bar when stderr is
// a terminal, a plain line every two seconds otherwise, and nothing for a
// run shorter than a second (two seconds for plain lines). A phase counts
// bytes or items; a phase whose work the library does not let us observe
// counts nothing and shows the elapsed time.
//
// $ATLITE_PROGRESS_INTERVAL (a duration) changes both delays, for tests.
type progress struct {
	stderr io.Writer
	n      atomic.Int64
	mu     sync.Mutex
	phase  string
	total  int64
	unit   string // "bytes", an item name such as "records", or "" for a timer
	gen    int    // incremented by each phase change
	stop   chan struct{}
	done   chan struct{}
}

// progress starts reporting a phase; Stop ends it. With --quiet it reports
// nothing.
func (e *env) progress(phase string, total int64, unit string) *progress {
	p := &progress{stderr: e.stderr, phase: phase, total: total, unit: unit, stop: make(chan struct{}), done: make(chan struct{})}
	e.progs = append(e.progs, p)
	if e.quiet {
		close(p.done)
		return p
	}
	go p.loop(isTerminal(e.stderr))
	return p
}

// Add counts n more bytes or items.
func (p *progress) Add(n int64) { p.n.Add(n) }

// Phase starts a new phase and resets the count.
func (p *progress) Phase(phase string, total int64, unit string) {
	p.mu.Lock()
	p.phase, p.total, p.unit = phase, total, unit
	p.gen++
	p.n.Store(0)
	p.mu.Unlock()
}

// Stop ends the report and waits until it is off the screen.
func (p *progress) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.stop)
	<-p.done
}

func progressInterval() (delay, every time.Duration) {
	delay, every = time.Second, 2*time.Second
	if d, err := time.ParseDuration(os.Getenv("ATLITE_PROGRESS_INTERVAL")); err == nil && d > 0 {
		delay, every = d, d
	}
	return delay, every
}

func (p *progress) loop(tty bool) {
	defer close(p.done)
	delay, every := progressInterval()
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	if !tty && every < 100*time.Millisecond {
		tick.Reset(max(every, time.Millisecond))
	}
	defer tick.Stop()
	var bar *progressbar.ProgressBar
	gen, lastLine := -1, start
	phaseStart := start
	for {
		select {
		case <-p.stop:
			if bar != nil {
				bar.Finish()
				bar.Clear()
				fmt.Fprint(p.stderr, "\r")
			}
			// A run long enough to have shown progress ends with a
			// line of its totals.
			if now := time.Now(); !tty && now.Sub(start) >= every {
				p.mu.Lock()
				phase, total, unit := p.phase, p.total, p.unit
				p.mu.Unlock()
				fmt.Fprintf(p.stderr, "%s: done, %s\n", phase, progressText(p.n.Load(), total, unit, now.Sub(phaseStart)))
			}
			return
		case now := <-tick.C:
			p.mu.Lock()
			phase, total, unit, g := p.phase, p.total, p.unit, p.gen
			p.mu.Unlock()
			n := p.n.Load()
			if g != gen {
				gen, phaseStart = g, now
				if bar != nil {
					bar.Finish()
					bar.Clear()
					bar = nil
				}
			}
			if now.Sub(start) < delay {
				continue
			}
			if tty {
				if bar == nil {
					bar = newBar(p.stderr, phase, total, unit)
				}
				bar.Set64(n)
				continue
			}
			if now.Sub(lastLine) >= every {
				lastLine = now
				fmt.Fprintf(p.stderr, "%s: %s\n", phase, progressText(n, total, unit, now.Sub(phaseStart)))
			}
		}
	}
}

func newBar(w io.Writer, phase string, total int64, unit string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSpinnerType(14),
	}
	switch unit {
	case "bytes":
		opts = append(opts, progressbar.OptionShowBytes(true))
	case "":
	default:
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit))
	}
	if unit == "" {
		total = -1
	}
	return progressbar.NewOptions64(total, opts...)
}

func progressText(n, total int64, unit string, elapsed time.Duration) string {
	el := elapsed.Round(time.Second).String()
	if elapsed < 10*time.Second {
		el = elapsed.Round(100 * time.Millisecond).String()
	}
	switch {
	case unit == "":
		return el
	case unit == "bytes" && total > 0:
		return fmt.Sprintf("%s of %s (%d%%), %s", humanize.IBytes(uint64(n)), humanize.IBytes(uint64(total)), n*100/total, el)
	case unit == "bytes":
		return fmt.Sprintf("%s, %s", humanize.IBytes(uint64(n)), el)
	case total > 0:
		return fmt.Sprintf("%d of %d %s (%d%%), %s", n, total, unit, n*100/total, el)
	default:
		return fmt.Sprintf("%d %s, %s", n, unit, el)
	}
}

// countingReader counts the bytes read through it; at EOF it runs atEOF
// once, to start the phase that follows reading.
type countingReader struct {
	r     io.Reader
	p     *progress
	atEOF func()
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	if err == io.EOF && c.atEOF != nil {
		c.atEOF()
		c.atEOF = nil
	}
	return n, err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	p *progress
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.Add(int64(n))
	c.n += int64(n)
	return n, err
}
