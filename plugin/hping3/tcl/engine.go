package tcl

import (
	"bufio"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

//go:embed engine.tcl
var script string

// Limits on what the engine may print: a line is one packet at most
// (maxAPD), and anything else in its output means it is not our script.
const (
	maxLine      = maxAPD + 64
	startTimeout = 3 * time.Second
	maxBatch     = 256 // records per delivery
	writeTimeout = time.Second
)

// Process is one running engine. Its methods may be called from one
// goroutine at a time; Events is read by another.
type Process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	w      *bufio.Writer
	line   []byte // Send's, kept between packets
	events chan []Event

	mu        sync.Mutex
	err       error // why the engine stopped, once it has
	stderr    strings.Builder
	unparsed  int
	done      chan struct{} // closed when the reader has finished
	quit      chan struct{} // closed by Close: the reader stops delivering
	closeOnce sync.Once
	reap      sync.Once
}

// Start runs binary as `hping3 exec` with the embedded script and waits for
// its ready line. The process dies with the plugin: it is in a process
// group of its own with a parent-death signal, and the script exits when
// its standard input closes. An hping3 built without Tcl never prints the
// ready line: the error then quotes what it printed instead.
func Start(binary string) (*Process, error) {
	scriptR, scriptW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The script is far smaller than a pipe buffer: write it before start.
	_, err = io.WriteString(scriptW, script)
	scriptW.Close()
	if err != nil {
		scriptR.Close()
		return nil, err
	}
	defer scriptR.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path: binary,
		// The script is read from descriptor 3; no file is written.
		Args: []string{binary, "exec", "/dev/fd/3"},
		// hping3 sources ~/.hpingrc at start: a HOME without one.
		// hping3 allocates and frees a buffer of over 128 KiB per send, and
		// glibc hands it back to the kernel every time (two brk calls a
		// packet): a trim threshold above it keeps the memory. (glibc
		// ignores this where hping3 runs with a file capability it did not
		// already hold: secure execution.)
		Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/nonexistent",
			"GLIBC_TUNABLES=glibc.malloc.trim_threshold=4194304"},
		Stdin:      inR,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: []*os.File{scriptR},
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &Process{cmd: cmd, stdin: inW, w: bufio.NewWriterSize(inW, 64<<10),
		events: make(chan []Event, 64), done: make(chan struct{}), quit: make(chan struct{})}
	ready := make(chan error, 1)
	go p.readStderr(errR)
	go p.read(outR, ready)
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-timer.C:
		err = fmt.Errorf("no ready line within %v", startTimeout)
	}
	if err != nil {
		p.Close()
		if msg := p.output(); msg != "" {
			err = fmt.Errorf("%w; it printed: %s", err, msg)
		}
		return nil, err
	}
	return p, nil
}

// Events delivers the engine's records, in order, in batches of what it
// had printed by the time the last batch was taken (one wake-up of the
// reader per batch, not per record); it is closed when the engine stops.
func (p *Process) Events() <-chan []Event { return p.events }

// Done is closed when the engine has stopped and every event is delivered.
func (p *Process) Done() <-chan struct{} { return p.done }

// Listen asks for a capture on iface with a BPF filter. The interface
// name comes from the host's own interface list and the filter is built by
// the plugin from numbers and addresses.
func (p *Process) Listen(iface, filter string) error {
	if strings.ContainsAny(iface, " \n\r") || strings.ContainsAny(filter, "\n\r") || iface == "" || filter == "" {
		return fmt.Errorf("capture on %q with filter %q cannot be written to the engine", iface, filter)
	}
	return p.write("listen " + iface + " " + filter + "\n")
}

// Send queues one packet; Flush writes what is queued.
func (p *Process) Send(id int, pr *packet.Probe) error {
	line := strconv.AppendInt(append(p.line[:0], "send "...), int64(id), 10)
	line, err := appendAPD(append(line, ' '), pr)
	if err != nil {
		return err
	}
	p.line = append(line, '\n')
	if _, err = p.w.Write(p.line); err != nil {
		return p.writeErr(err)
	}
	return nil
}

// Sync asks the engine to answer with Synced n once it has read everything
// written before.
func (p *Process) Sync(n int) error { return p.write("sync " + strconv.Itoa(n) + "\n") }

func (p *Process) write(s string) error {
	if _, err := p.w.WriteString(s); err != nil {
		return p.writeErr(err)
	}
	return p.Flush()
}

// Flush writes the queued commands. A hung engine does not block the
// plugin: the write gives up after writeTimeout.
func (p *Process) Flush() error {
	p.stdin.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := p.w.Flush(); err != nil {
		return p.writeErr(err)
	}
	return nil
}

// writeErr says why a write failed. A broken or closed pipe means the
// engine has gone: its reader, which sees the end of its output, says why
// (an exit status, garbage). A write that timed out means it stopped
// reading.
func (p *Process) writeErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the hping3 engine stopped reading its commands for %v: killed", writeTimeout)
	}
	select {
	case <-p.done:
	case <-time.After(writeTimeout):
	}
	if e := p.Err(); e != nil {
		return e
	}
	return fmt.Errorf("writing to the hping3 engine: %w", err)
}

// Close kills the engine and its process group and reaps it. Safe to call
// more than once.
func (p *Process) Close() {
	p.fail(errors.New("engine closed"))
	p.closeOnce.Do(func() { close(p.quit) })
	p.kill()
	<-p.done
}

// Err says why the engine stopped: its exit status, or a protocol error.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Unparsed counts captured packets whose text could not be read.
func (p *Process) Unparsed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unparsed
}

// Pid is the engine's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

func (p *Process) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// output is the first line of what the engine printed on stderr, for error
// messages.
func (p *Process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 200 {
				l = l[:200] + "..."
			}
			return l
		}
	}
	return ""
}

func (p *Process) readStderr(r *os.File) {
	defer r.Close()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		p.mu.Lock()
		if p.stderr.Len() < 16<<10 {
			p.stderr.Write(buf[:n])
		}
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// read parses stdout until the engine stops or breaks the protocol, then
// kills and reaps it.
func (p *Process) read(r *os.File, ready chan<- error) {
	defer close(p.done)
	defer close(p.events)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	first := true
	var pending []Event
	deliver := func() bool {
		if len(pending) == 0 {
			return true
		}
		select {
		case p.events <- pending:
			pending = nil
			return true
		case <-p.quit:
			return false
		}
	}
	broken := func(err error) {
		deliver() // what it printed before is true
		if first {
			ready <- err
		} else {
			p.fail(err)
		}
		p.kill()
	}
	for {
		line, err := readLine(br)
		switch {
		case err == io.EOF:
			broken(fmt.Errorf("the hping3 engine stopped (%s)", p.kill()))
			return
		case err != nil:
			broken(fmt.Errorf("the hping3 engine printed garbage (%v)", err))
			return
		}
		ev, perr := parseLine(line)
		if first {
			if perr != nil || ev.Kind != 0 {
				broken(fmt.Errorf("hping3 exec did not start the engine script: first line %.80q", line))
				return
			}
			first = false
			ready <- nil
			continue
		}
		switch {
		case errors.Is(perr, errUnparsedPacket):
			p.mu.Lock()
			p.unparsed++
			p.mu.Unlock()
			continue
		case perr != nil:
			broken(fmt.Errorf("the hping3 engine printed garbage (%v): %.80q", perr, line))
			return
		}
		pending = append(pending, ev)
		if (br.Buffered() == 0 || len(pending) >= maxBatch) && !deliver() {
			p.kill()
			return
		}
	}
}

// kill ends the engine and everything in its process group, reaps it
// (once) and says how it ended.
func (p *Process) kill() string {
	p.reap.Do(func() {
		p.stdin.Close()
		// Killed while the leader is still unreaped, so the group id is
		// still ours: nothing the engine started outlives it.
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Wait()
	})
	return p.cmd.ProcessState.String()
}

// Available tells whether binary can run the engine: an ELF program linked
// against Tcl (as Debian's hping3 is) that starts the script. Anything else,
// a wrapper script for example, is not run at all; engine = "tcl" forces it.
func Available(binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s is not an ELF program (%v)", binary, err)
	}
	libs, err := f.ImportedLibraries()
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: reading its libraries: %v", binary, err)
	}
	if !slices.ContainsFunc(libs, func(l string) bool { return strings.HasPrefix(l, "libtcl") }) {
		return fmt.Errorf("%s is built without Tcl (it does not link libtcl)", binary)
	}
	p, err := Start(binary)
	if err != nil {
		return err
	}
	p.Close()
	return nil
}
