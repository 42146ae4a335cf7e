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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
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

// Plan says when to stop hping3. hping3 sends Count packets Interval apart
// and stops by itself once every reply is in, or about one second after its
// last packet. With a Timeout under one second the plugin cuts that wait
// short with SIGINT (hping3 then prints its statistics) once the last
// packet is Timeout old; Kill ends a process that did neither.
type Plan struct {
	Count    int
	Interval time.Duration
	Timeout  time.Duration
	Kill     time.Duration // SIGKILL this long after start
	MaxLines int           // stdout records kept
}

// Timing margins around hping3's own schedule (docs/hping3.md).
const (
	// startAllowance is how long hping3 may take from exec to its first
	// packet (pcap open, interface lookup) when its header line is not seen.
	startAllowance = 200 * time.Millisecond
	// ownWait is how long hping3 waits for replies after its last packet
	// before it stops by itself.
	ownWait = time.Second
	// killGrace is how long hping3 gets after SIGINT to print its
	// statistics before it is killed.
	killGrace = 2 * time.Second
)

// NewPlan bounds one hping3 run of s: SIGINT from the packets' schedule,
// and a kill deadline that allows the start, the packets a quarter more
// than their nominal spacing (hping3 drifts under load), hping3's own wait
// after the last packet and the grace for its statistics. Two packets 10ms
// apart are killed at 200ms + 10ms + 2.5ms + 1s + 2s = 3.2125s.
func NewPlan(s config.Settings) Plan {
	sending := time.Duration(s.Count-1) * s.Interval
	return Plan{
		Count: s.Count, Interval: s.Interval, Timeout: s.Timeout,
		Kill:     startAllowance + sending + sending/4 + ownWait + killGrace,
		MaxLines: linesPerProbe*s.Count + 16,
	}
}

// lastSend estimates, from what hping3 printed so far, when it sends (or
// sent) its last packet, measured from process start. hping3 re-arms its
// timer after each send, so under load its packets drift later than
// count x interval; a reply to packet k read at a_k with rtt r_k shows that
// packet k left at a_k - r_k, and the drift so far is carried forward.
type lastSend struct {
	plan   Plan
	t0     atomic.Int64 // header line read (first packet about to leave); 0: not yet
	latest atomic.Int64 // estimate from replies; 0: none yet
}

func (e *lastSend) observe(l TimedLine) {
	switch {
	case l.Kind == Header:
		e.t0.CompareAndSwap(0, int64(l.At))
	case l.Kind == Reply && !l.Dup && l.Seq >= 0 && l.Seq < e.plan.Count && l.RTT >= 0:
		gap := e.plan.Interval
		if t0 := time.Duration(e.t0.Load()); t0 > 0 {
			gap = Spacing(l, t0, gap)
		}
		est := int64(l.SentAt() + time.Duration(e.plan.Count-1-l.Seq)*gap)
		for {
			cur := e.latest.Load()
			if est <= cur || e.latest.CompareAndSwap(cur, est) {
				break
			}
		}
	}
}

// SentAt is when the packet a reply answers left, from process start: the
// reply's read time less its rtt.
func (l TimedLine) SentAt() time.Duration {
	return l.At - time.Duration(l.RTT*float64(time.Millisecond))
}

// Spacing is the packet spacing reply l shows, given the first packet left
// at t0: at least interval, more when hping3 fell behind (it re-arms its
// timer after each send). Packet 0 shows nothing: interval.
func Spacing(l TimedLine, t0, interval time.Duration) time.Duration {
	if l.Seq <= 0 {
		return interval
	}
	return max(interval, (l.SentAt()-t0)/time.Duration(l.Seq))
}

// interruptAt is when SIGINT is due, from process start.
func (e *lastSend) interruptAt() time.Duration {
	t0 := time.Duration(e.t0.Load())
	if t0 == 0 {
		t0 = startAllowance
	}
	last := max(t0+time.Duration(e.plan.Count-1)*e.plan.Interval, time.Duration(e.latest.Load()))
	return last + e.plan.Timeout
}

// Execution is what one hping3 process did.
type Execution struct {
	Binary     string   // hping3 itself, as given to Execute
	Argv       []string // what ran: Binary and its args, under stdbuf when there is one
	Plan       Plan
	Start      time.Time
	Lines      []TimedLine
	Dropped    int     // stdout records beyond Plan.MaxLines, or overlong lines
	Summary    Summary // hping3's statistics, from stderr
	HasSummary bool    // hping3 printed its statistics
	stderr     string  // at most 64 KiB; read only by Failure
	ExitCode   int     // -1 when killed by a signal
	Signal     syscall.Signal
	Killed     bool // we sent SIGKILL at Plan.Kill
	Cancelled  bool // the context ended first
	Interrupts bool // we sent SIGINT once the last packet's timeout had passed
	Elapsed    time.Duration
}

// stdbuf is the path of stdbuf, or "" when it is missing. hping3 block-
// buffers stdout into a pipe; under "stdbuf -oL" each reply arrives as it
// is printed, which the +1000 ms glitch check needs, and survives a kill.
var stdbuf = lookStdbuf()

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
	if stdbuf != "" {
		argv = append([]string{stdbuf, "-oL"}, argv...)
	}
	ex := &Execution{Binary: binary, Argv: argv, Plan: plan, ExitCode: -1}

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
		Path:   argv[0],
		Args:   argv,
		Env:    []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"},
		Stdout: outW,
		Stderr: errW,
		// Pdeathsig: hping3 dies with the plugin whatever kills it (a
		// silent target's hping3 prints nothing, so no SIGPIPE would end it).
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
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
	est := &lastSend{plan: plan}
	outDone := make(chan struct{})
	errDone := make(chan struct{})
	go func() {
		defer close(outDone)
		ex.Lines, ex.Dropped = readLines(outR, ex.Start, maxLines, est.observe)
	}()
	go func() {
		defer close(errDone)
		ex.stderr = readCapped(errR, maxStderr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	// From one second on, hping3's own wait after the last packet is the
	// timeout: no SIGINT, which could only come early under load.
	var interrupt *time.Timer
	var interruptC <-chan time.Time
	if plan.Timeout < time.Second {
		interrupt = time.NewTimer(est.interruptAt())
		defer interrupt.Stop()
		interruptC = interrupt.C
	}
	kill := timerAt(plan.Kill)
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-waited:
			break loop
		case <-interruptC:
			// Replies may have shown the packets running late: wait on.
			if due := est.interruptAt() - time.Since(ex.Start); due > 0 {
				interrupt.Reset(due)
				continue
			}
			interruptC = nil
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
	ex.Summary, ex.HasSummary = ParseSummary(ex.stderr)

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

// readLines parses stdout as it arrives, stamping each record and showing
// it to observe.
func readLines(r io.Reader, start time.Time, maxLines int, observe func(TimedLine)) (lines []TimedLine, dropped int) {
	br := bufio.NewReaderSize(r, 4096)
	var p Parser
	keep := func(l Line) {
		tl := TimedLine{Line: l, At: time.Since(start)}
		observe(tl)
		if len(lines) >= maxLines {
			dropped++
			return
		}
		lines = append(lines, tl)
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
