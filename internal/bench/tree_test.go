package bench

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// treeHelperEnv makes the test binary a helper process of TestTreeCountsOrphans.
const treeHelperEnv = "HPING3_PLUGIN_BENCH_TREE_HELPER"

// grandchildCPU is the CPU time the orphaned grandchild burns: a fixed
// amount of work measured by its own clock, whatever the machine's load.
const grandchildCPU = 200 * time.Millisecond

// TestTreeHelper is not a test: run with treeHelperEnv set, it is the root
// ("parent": starts a grandchild and exits at once, leaving it an orphan)
// or the grandchild ("spin": uses grandchildCPU of CPU, then exits).
func TestTreeHelper(t *testing.T) {
	switch os.Getenv(treeHelperEnv) {
	case "parent":
		cmd := exec.Command(os.Args[0], "-test.run=^TestTreeHelper$")
		cmd.Env = append(os.Environ(), treeHelperEnv+"=spin")
		if err := cmd.Start(); err != nil {
			os.Exit(3)
		}
		os.Exit(0) // without waiting: the grandchild is orphaned
	case "spin":
		for {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			if cpu(&ru) >= grandchildCPU {
				os.Exit(0)
			}
		}
	}
}

// A grandchild the root left running is reaped by the bench as subreaper,
// counted as an orphan, and its CPU is in the tree's: the accounting the
// whole-process benchmarks rely on. The bound is the grandchild's own
// count of its CPU, not a speed.
func TestTreeCountsOrphans(t *testing.T) {
	if err := Subreaper(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTreeHelper$")
	cmd.Env = append(os.Environ(), treeHelperEnv+"=parent")
	tree, err := StartTree(cmd)
	if err != nil {
		t.Fatal(err)
	}
	u, err := tree.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU < grandchildCPU {
		t.Errorf("tree CPU %v, want at least the orphaned grandchild's %v", u.CPU, grandchildCPU)
	}
	if u.Orphans != 1 {
		t.Errorf("%d orphans, want 1", u.Orphans)
	}
	if kids := children(os.Getpid()); len(kids) > 0 {
		t.Errorf("children left after Wait: %v", kids)
	}
}
