package execd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/core"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
)

// stopGrace is how long a stop waits for the cancelled round to return (the
// core kills its hping3 processes when its context ends), or in continuous
// mode for the windows still owed at EOF. The issue allows one second from
// stdin EOF or SIGTERM to exit; the rest is margin.
const stopGrace = 800 * time.Millisecond

// loop is the execd main loop with its round function injectable, so its
// scheduling can be tested without hping3.
type loop struct {
	round func(context.Context) core.Report
	// continuous: the source probes all the time and each report is the
	// window since the previous one, so the first poll comes one interval
	// after the start (at once it would cover no packet).
	continuous bool
	out        io.Writer
	log        *logger.Logger
	poll       time.Duration // > 0: a round this often, on core.Poll's schedule
	grace      time.Duration
}

// run runs rounds until ctx ends or stdin reaches EOF. Every trigger source
// feeds a one-slot channel, so triggers that arrive while a round runs
// coalesce into exactly one further round, and rounds never overlap.
//
// EOF is how Telegraf stops the plugin, right after its last request. A
// round it cuts is not written (it would only say "cancelled"), but a
// window cut short is as good as any: in continuous mode the requests read
// before EOF are still answered, with windows taken at once, and only then
// does run return. ctx ending (SIGINT, SIGTERM) stops without them.
func (l *loop) run(ctx context.Context, stdin io.Reader, signals <-chan os.Signal) error {
	// Reports are taken under cut, which EOF ends as well as ctx: a
	// Stream's first report, which waits up to 5 s for the targets' first
	// packets, then returns at once.
	cut, stopCut := context.WithCancel(ctx)
	defer stopCut()

	lines := make(chan struct{}, 1)
	var eof chan struct{} // nil without stdin: never ready
	if stdin != nil {
		eof = make(chan struct{})
		// Read in a goroutine of its own, also during a round: Telegraf
		// writes each "\n" with a 1 s deadline and reports an error when
		// the plugin is not reading. readLines passes on the last line
		// before it closes eof, so when eof is closed every request read
		// is pending in lines or already taken.
		go readLines(stdin, lines, func() { close(eof); stopCut() })
	}
	// stopBy is the grace budget's end, set at the first stop seen and
	// shared by every wait after it: reporting the pending requests after
	// EOF cannot hold the exit past l.grace.
	var stopBy time.Time

	var tick <-chan time.Time
	var timer *time.Timer
	var polls *core.Poll
	if l.poll > 0 {
		first := time.Duration(0) // rounds: the first one at once
		if l.continuous {
			first = l.poll
		}
		polls = core.NewPoll(l.poll, time.Now().Add(first), l.log)
		timer = time.NewTimer(first)
		defer timer.Stop()
		tick = timer.C
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-eof:
			if !l.continuous {
				return nil // a round now would be cut at once
			}
			// Stdin is closed: answer what was requested before, a
			// window per request as ever (a line and a signal both
			// pending are two), then return. Both channels are read
			// in this loop only, so a ready one stays ready.
			select {
			case <-lines:
			case <-signals:
			default:
				return nil
			}
		case <-lines:
		case <-signals:
		case <-tick:
		}
		if ctx.Err() != nil || (!l.continuous && cut.Err() != nil) {
			// The select may take a trigger over the stop that came
			// with it: a round would only be cut.
			return nil
		}
		start := time.Now()
		rd, ok := l.runRound(ctx, cut, &stopBy)
		if !ok {
			return nil // stopping: write nothing partial
		}
		end := time.Now()
		overrun := false
		if polls != nil {
			// The schedule every polling mode shares (core.Poll): it logs
			// an overrun itself. Reset also drops a tick that fired during
			// the round; a poll due meanwhile is in next.
			var next time.Time
			next, overrun = polls.Next(start, end)
			timer.Reset(time.Until(next))
		}
		// A window returns at once: requests that come meanwhile are the
		// next window's, not merged ones.
		if !rd.Window && !overrun && (len(lines) > 0 || len(signals) > 0) {
			// A request came while the round ran: Telegraf's interval is
			// shorter than a round, and requests are being merged. One W!
			// per round: after a poll overrun that line says it already.
			overrun = true
			l.log.Warnf("round took %v, longer than the time between Telegraf's requests: requests that came meanwhile were merged into one (fewer targets, a smaller count or a longer Telegraf interval fix this)",
				end.Sub(start).Round(time.Millisecond))
		}
		if err := writeRound(l.out, append(encode(rd, l.log), EncodeRound(rd, overrun)...)); err != nil {
			if brokenPipe(err) {
				return nil // the reader is gone (Telegraf stopped): nothing to tell
			}
			return fmt.Errorf("writing line protocol to stdout: %w", err)
		}
	}
}

// runRound runs one round or takes one window under cut, which ends with
// ctx or at stdin EOF. Once cut has ended it waits for the report until
// *stopBy, which it sets l.grace after the first stop it sees. It returns
// ok false when the report must not be written: ctx ended (SIGINT,
// SIGTERM), the report did not come in time, or EOF cut a round. A window
// cut by EOF is written: it holds every packet decided until then.
func (l *loop) runRound(ctx, cut context.Context, stopBy *time.Time) (core.Report, bool) {
	done := make(chan core.Report, 1)
	go func() { done <- l.round(cut) }()
	keep := func() bool { return ctx.Err() == nil && (l.continuous || cut.Err() == nil) }
	select {
	case rd := <-done:
		return rd, keep()
	case <-cut.Done():
	}
	if stopBy.IsZero() {
		*stopBy = time.Now().Add(l.grace)
	}
	grace := time.NewTimer(time.Until(*stopBy))
	defer grace.Stop()
	select {
	case rd := <-done:
		return rd, keep()
	case <-grace.C:
		l.log.Warnf("stopping: the running round did not end within %v of the stop; exiting without it", l.grace)
	}
	return core.Report{}, false
}

// readLines signals lines for every chunk of stdin holding a newline and
// calls eof when stdin ends (Telegraf closes it on shutdown), after passing
// on the chunk read last.
func readLines(r io.Reader, lines chan<- struct{}, eof func()) {
	defer eof()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			select {
			case lines <- struct{}{}:
			default: // a round is already pending: coalesce
			}
		}
		if err != nil {
			return // EOF, or stdin unusable: either way no more triggers
		}
	}
}

// writeRound writes a round's lines in one Write, so Telegraf never sees half
// a round, and flushes a buffered writer.
func writeRound(w io.Writer, b []byte) error {
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if f, ok := w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

func brokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, os.ErrClosed)
}
