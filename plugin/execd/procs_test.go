package execd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// prSetChildSubreaper makes orphaned descendants reparent to this test
// process instead of init, so an hping3 left behind by a plugin that exited
// is still found among our descendants.
const prSetChildSubreaper = 36

var subreaperOnce sync.Once

func becomeSubreaper(t *testing.T) {
	t.Helper()
	var err error
	subreaperOnce.Do(func() {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
			err = e
		}
	})
	if err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
}

// proc is one live process from /proc.
type proc struct {
	pid, ppid int
	comm      string
	cmdline   string
}

func (p proc) String() string { return fmt.Sprintf("%d %s [%s]", p.pid, p.comm, p.cmdline) }

// descendants returns the live (non-zombie) processes below this test
// process. Zombies have exited; they only wait to be reaped.
func descendants() []proc {
	entries, _ := os.ReadDir("/proc")
	all := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited while we looked
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(stat)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < lp {
			continue
		}
		rest := strings.Fields(s[rp+1:])
		if len(rest) < 2 || rest[0] == "Z" || rest[0] == "X" {
			continue
		}
		ppid, _ := strconv.Atoi(rest[1])
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		all[pid] = proc{pid: pid, ppid: ppid, comm: s[lp+1 : rp],
			cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))}
	}
	self := os.Getpid()
	var out []proc
	for _, p := range all {
		for q, hops := p, 0; hops < 64; hops++ {
			if q.ppid == self {
				out = append(out, p)
				break
			}
			parent, ok := all[q.ppid]
			if !ok {
				break
			}
			q = parent
		}
	}
	return out
}

// watcher samples our descendants while a test runs and remembers which
// programs it saw, so a test can show its "all gone" check was not vacuous.
type watcher struct {
	mu   sync.Mutex
	seen map[string]int // comm -> samples it appeared in
	stop chan struct{}
	done chan struct{}
}

func watch() *watcher {
	w := &watcher{seen: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			w.mu.Lock()
			for _, p := range descendants() {
				w.seen[p.comm]++
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *watcher) saw(comm string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[comm] > 0
}

func (w *watcher) close() { close(w.stop); <-w.done }

// requireAllGone fails unless every descendant process has exited within
// limit, then kills any that remain so one failure does not leak into other
// tests.
func requireAllGone(t *testing.T, since time.Time, limit time.Duration) {
	t.Helper()
	var left []proc
	for {
		left = descendants()
		if len(left) == 0 || time.Since(since) > limit {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) == 0 {
		return
	}
	t.Errorf("%d processes still running %v after the stop, want none within %v: %v", len(left), time.Since(since).Round(time.Millisecond), limit, left)
	for _, p := range left {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}
