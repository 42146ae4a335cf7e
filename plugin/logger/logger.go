package logger

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Logger is safe for concurrent use. A nil *Logger discards everything, so
// library code can log without checking.
type Logger struct {
	mu    sync.Mutex
	w     io.Writer
	debug bool
}

// New returns a Logger writing to w; debug enables "D! " lines.
func New(w io.Writer, debug bool) *Logger { return &Logger{w: w, debug: debug} }

// Discard returns a Logger that writes nothing.
func Discard() *Logger { return &Logger{w: io.Discard} }

func (l *Logger) Errorf(format string, a ...any) { l.write("E! ", format, a...) }
func (l *Logger) Warnf(format string, a ...any)  { l.write("W! ", format, a...) }
func (l *Logger) Infof(format string, a ...any)  { l.write("I! ", format, a...) }

// Debugf writes only when debug output was asked for.
func (l *Logger) Debugf(format string, a ...any) {
	if l != nil && l.debug {
		l.write("D! ", format, a...)
	}
}

// DebugEnabled reports whether Debugf writes anything, so callers can skip
// building expensive messages.
func (l *Logger) DebugEnabled() bool { return l != nil && l.debug }

func (l *Logger) write(prefix, format string, a ...any) {
	if l == nil {
		return
	}
	msg := fmt.Sprintf(format, a...)
	// One message is one line: Telegraf reads stderr line by line, and a
	// continuation line would be logged without a level.
	msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, prefix+msg+"\n")
}
