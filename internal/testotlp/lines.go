package testotlp

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Line is one line of output and when it was read: a test of the plugin's
// schedule measures the gaps between its log lines.
type Line struct {
	At   time.Time
	Text string
}

// Lines collects a process's output line by line, as it comes.
type Lines struct {
	mu    sync.Mutex
	lines []Line
	added chan struct{} // a token when lines were added since the last wait
	eof   chan struct{} // closed when the output ended
}

// ReadLines reads r to its end in the background.
func ReadLines(r io.Reader) *Lines {
	l := &Lines{added: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(l.eof)
		sc := bufio.NewScanner(r)
		// The Collector's debug exporter writes long lines.
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, Line{time.Now(), sc.Text()})
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// All returns the lines read so far.
func (l *Lines) All() []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Line(nil), l.lines...)
}

// Matching returns the lines read so far that start with prefix.
func (l *Lines) Matching(prefix string) []Line {
	var out []Line
	for _, ln := range l.All() {
		if strings.HasPrefix(ln.Text, prefix) {
			out = append(out, ln)
		}
	}
	return out
}

// String is the output read so far, for failure messages and for checks
// that look for a text anywhere in it.
func (l *Lines) String() string {
	var b strings.Builder
	for i, ln := range l.All() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(ln.Text)
	}
	return b.String()
}

// WaitFor waits until n lines start with prefix and returns them, or fails
// when the output ends or within passes first.
func (l *Lines) WaitFor(t testing.TB, prefix string, n int, within time.Duration) []Line {
	t.Helper()
	deadline := time.After(within)
	for {
		if m := l.Matching(prefix); len(m) >= n {
			return m
		}
		select {
		case <-l.added:
		case <-l.eof:
			if m := l.Matching(prefix); len(m) >= n {
				return m
			}
			t.Fatalf("output ended with %d lines starting %q, want %d:\n%s", len(l.Matching(prefix)), prefix, n, l)
		case <-deadline:
			t.Fatalf("%d lines starting %q within %s, want %d:\n%s", len(l.Matching(prefix)), prefix, within, n, l)
		}
	}
}
