package hping3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Output limits: hping3 prints a few lines per packet, so anything far
// beyond this is a broken or hostile binary; the rest is drained unread so
// the process never blocks on a full pipe.
const (
	maxLineLen    = 4096
	maxStderr     = 64 << 10
	minKeptLines  = 64
	linesPerProbe = 4
	reapWait      = 2 * time.Second
)

// TimedLine is a parsed stdout record with the time it was read, measured
// from the moment the process started.
type TimedLine struct {
	Line
	At time.Duration
}

// Plan says when to stop hping3. hping3 stops by itself once every reply is
// in, or one second after its last packet; Interrupt cuts that wait short
// with SIGINT (hping3 then prints its statistics), and Kill ends a process
// that did neither.
type Plan struct {
	Interrupt time.Duration // SIGINT this long after start; 0: never
	Kill      time.Duration // SIGKILL this long after start
	MaxLines  int           // stdout records kept
}

// Execution is what one hping3 process did.
type Execution struct {
	Argv       []string
	Start      time.Time
	Lines      []TimedLine
	Dropped    int    // stdout records beyond Plan.MaxLines, or overlong lines
	Stderr     string // at most 64 KiB
	ExitCode   int    // -1 when killed by a signal
	Signal     syscall.Signal
	Killed     bool // we sent SIGKILL at Plan.Kill
	Cancelled  bool // the context ended first
	Interrupts bool // we sent SIGINT at Plan.Interrupt
	Elapsed    time.Duration
}

// Stdbuf is the path of stdbuf, or "" when it is missing. hping3 block-
// buffers stdout into a pipe; under "stdbuf -oL" each reply arrives as it
// is printed, which the +1000 ms glitch check needs, and survives a kill.
var Stdbuf = lookStdbuf()

func lookStdbuf() string {
	p, err := exec.LookPath("stdbuf")
	if err != nil {
		return ""
	}
	return p
}

// Execute runs binary with args, no shell, in a process group of its own so
// that nothing it starts outlives it. It returns once the process is reaped
// and its pipes are drained; ctx ending kills it at once.
func Execute(ctx context.Context, binary string, args []string, plan Plan) (*Execution, error) {
	argv := append([]string{binary}, args...)
	if Stdbuf != "" {
		argv = append([]string{Stdbuf, "-oL"}, argv...)
	}
	ex := &Execution{Argv: argv, ExitCode: -1}

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"},
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	ex.Start = time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	pgid := cmd.Process.Pid

	maxLines := max(plan.MaxLines, minKeptLines)
	outDone := make(chan struct{})
	errDone := make(chan struct{})
	go func() {
		defer close(outDone)
		ex.Lines, ex.Dropped = readLines(outR, ex.Start, maxLines)
	}()
	go func() {
		defer close(errDone)
		ex.Stderr = readCapped(errR, maxStderr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	interrupt := timerAt(plan.Interrupt)
	kill := timerAt(plan.Kill)
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-waited:
			break loop
		case <-interrupt:
			interrupt = nil
			ex.Interrupts = true
			syscall.Kill(-pgid, syscall.SIGINT)
		case <-kill:
			kill = nil
			ex.Killed = true
			syscall.Kill(-pgid, syscall.SIGKILL)
		case <-ctx.Done():
			ex.Cancelled = true
			syscall.Kill(-pgid, syscall.SIGKILL)
			waitErr = <-waited
			break loop
		}
	}
	// Whatever hping3 (or a stand-in) left behind in its group goes too, so
	// the pipes close and nothing is orphaned.
	syscall.Kill(-pgid, syscall.SIGKILL)
	drain := time.NewTimer(reapWait)
	defer drain.Stop()
	for _, done := range []chan struct{}{outDone, errDone} {
		select {
		case <-done:
		case <-drain.C:
			// A descendant escaped the group and holds a pipe: stop reading.
			outR.Close()
			errR.Close()
			<-done
		}
	}
	outR.Close()
	errR.Close()
	ex.Elapsed = time.Since(ex.Start)

	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
		ex.ExitCode = 0
	case errors.As(waitErr, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.Signal = ws.Signal()
		} else {
			ex.ExitCode = exitErr.ExitCode()
		}
	default:
		return ex, fmt.Errorf("waiting for hping3: %w", waitErr)
	}
	return ex, nil
}

// timerAt returns a channel firing after d, or nil (never) for d <= 0.
func timerAt(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return time.After(d)
}

// readLines parses stdout as it arrives, stamping each record.
func readLines(r io.Reader, start time.Time, maxLines int) (lines []TimedLine, dropped int) {
	br := bufio.NewReaderSize(r, 4096)
	var p Parser
	keep := func(l Line) {
		if len(lines) >= maxLines {
			dropped++
			return
		}
		lines = append(lines, TimedLine{Line: l, At: time.Since(start)})
	}
	for {
		s, tooLong, err := readLine(br)
		if tooLong {
			dropped++
		} else if s != "" || err == nil {
			if l, ok := p.Feed(s); ok {
				keep(l)
			}
		}
		if err != nil {
			break
		}
	}
	if l, ok := p.Flush(); ok {
		keep(l)
	}
	return lines, dropped
}

// readLine returns one line without its newline; a line longer than
// maxLineLen is consumed and reported as tooLong.
func readLine(br *bufio.Reader) (string, bool, error) {
	var sb strings.Builder
	tooLong := false
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			if sb.Len()+len(chunk) > maxLineLen {
				tooLong = true
				sb.Reset()
			} else {
				sb.Write(chunk)
			}
		}
		if err != nil {
			return sb.String(), tooLong, err
		}
		if !isPrefix {
			return sb.String(), tooLong, nil
		}
	}
}

// readCapped keeps the first limit bytes of r and drains the rest.
func readCapped(r io.Reader, limit int64) string {
	var sb strings.Builder
	io.Copy(&sb, io.LimitReader(r, limit))
	io.Copy(io.Discard, r)
	return sb.String()
}
