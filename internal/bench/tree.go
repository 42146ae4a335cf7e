package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The whole-process benchmarks take a tool's CPU as the user plus system
// time of its whole process tree: for the plugin, the plugin and every
// hping3 it started. The figure is exact and complete because
//
//   - a process's rusage as its parent reaps it (wait4) holds its own time
//     and that of every child it reaped itself, and getrusage
//     RUSAGE_CHILDREN of the reaper adds up all it reaped: the plugin reaps
//     its hping3 processes, so their time reaches the bench through the
//     plugin's;
//   - a descendant that outlives its parent would be reparented to init and
//     its time lost, so this process is a child subreaper
//     (PR_SET_CHILD_SUBREAPER): such orphans become its children, Tree.Wait
//     kills those still running after the tool exited (and counts them: a
//     tool should leave none) and reaps them, so their time counts too;
//   - user and system time in rusage are the scheduler's runtime (split by
//     tick samples, summed exactly), not the 10 ms ticks of /proc/PID/stat.
//
// A cgroup's cpu.stat would be as exact, but needs a writable cgroup v2
// hierarchy, which a hybrid cgroup v1 machine may not offer; subreaping
// works on any Linux since 3.4 without privileges. The rule it needs: no
// other child of this process runs while a Tree is measured, as the
// difference of RUSAGE_CHILDREN would count it too.

// Subreaper makes this process the reaper of its orphaned descendants.
func Subreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Tree is a started process whose whole tree is measured.
type Tree struct {
	Cmd    *exec.Cmd
	start  time.Time
	before syscall.Rusage
}

// TreeUsage is what a whole process tree used.
type TreeUsage struct {
	Wall    time.Duration // the root process's start to its exit
	CPU     time.Duration // user + system of every process of the tree
	Orphans int           // descendants still running when the root had exited (killed, then counted)
}

// orphanGrace is how long Tree.Wait lets orphans end by themselves before
// it kills them.
const orphanGrace = 2 * time.Second

// StartTree starts cmd as a measured tree. Subreaper must have been called.
func StartTree(cmd *exec.Cmd) (*Tree, error) {
	t := &Tree{Cmd: cmd}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &t.before); err != nil {
		return nil, err
	}
	t.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return t, nil
}

// Wait waits for the root process, then for every orphan it left (killing
// those that outlive orphanGrace), and returns the tree's usage; the error
// is cmd.Wait's.
func (t *Tree) Wait() (TreeUsage, error) {
	err := t.Cmd.Wait()
	u := TreeUsage{Wall: time.Since(t.start)}
	u.Orphans = reapOrphans(orphanGrace)
	var after syscall.Rusage
	if e := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after); e != nil {
		return u, errors.Join(err, e)
	}
	u.CPU = cpu(&after) - cpu(&t.before)
	return u, err
}

// bystanders are children of this process that run beside a measured tree
// and are no part of it (a tcpdump watching it): reapOrphans leaves them to
// their own Wait, after the tree's usage is taken.
var bystanders sync.Map // pid -> struct{}

// reapOrphans reaps every child of this process (the orphans a measured
// root left to its subreaper, and theirs when they die in turn) but the
// bystanders, waiting up to grace for them to end and killing the rest,
// and returns how many it saw running.
func reapOrphans(grace time.Duration) int {
	running := map[int]bool{}
	deadline := time.Now().Add(grace)
	for {
		kids := slices.DeleteFunc(children(os.Getpid()), func(pid int) bool {
			_, ok := bystanders.Load(pid)
			return ok
		})
		if len(kids) == 0 {
			return len(running)
		}
		for _, pid := range kids {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			if got == pid || errors.Is(err, syscall.ECHILD) {
				continue // reaped (or not ours any more)
			}
			running[pid] = true
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_, _ = syscall.Wait4(pid, &ws, 0, nil)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// String is the usage as a short line, for logs.
func (u TreeUsage) String() string {
	return fmt.Sprintf("wall %v, CPU %v, %d orphans", u.Wall.Round(time.Millisecond), u.CPU.Round(time.Millisecond), u.Orphans)
}
