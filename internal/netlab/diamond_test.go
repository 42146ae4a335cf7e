package netlab

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// diamondPorts are the source ports of the flows the diamond's tests send:
// with the fixed hash seed, several take each branch.
const (
	diamondFirstPort = 40000
	diamondFlows     = 16
)

// branchOf sends count probes of one flow (hping3 args, the source port
// kept) with TTL 2 and returns the branch whose R2 answered all of them,
// failing t when they were not all answered by the same R2.
func branchOf(t *testing.T, d *Diamond, count int, args ...string) int {
	t.Helper()
	all := append([]string{"-t", "2", "-c", strconv.Itoa(count), "-i", "u20000", "-k"}, args...)
	got := answer(chainHping3(t, d, append(all, DiamondTarget.String())...))
	for b := range 2 {
		want := strings.Repeat("; "+from(d.Hop(2, b)), count)[2:]
		if got == want {
			return b
		}
	}
	t.Fatalf("hping3 %v at TTL 2: %q, want %d answers from one of %s and %s", args, got, count, d.Hop(2, 0), d.Hop(2, 1))
	return -1
}

// TestDiamondBalancesFlows: R1 balances TCP and UDP by their five-tuple.
// Each flow keeps its branch (every packet of it is answered at TTL 2 by
// the same R2, and at TTL 3 by R3 on that branch's link), different source
// ports take both branches, the target's own probes of a flow cross the
// branch its TTL 2 probes named, and a branch taken down leaves the
// balancing until it comes back. ICMP echo is not split by its id: Linux's
// L4 hash has no ports for it, so every echo takes one branch whatever its
// id.
func TestDiamondBalancesFlows(t *testing.T) {
	t.Parallel()
	d := NewDiamond(t)
	if err := d.ListenTCP(80); err != nil {
		t.Fatal(err)
	}
	target := DiamondTarget.String()
	protocols := []struct {
		name string
		args []string
	}{
		{"tcp", []string{"-S", "-p", "80"}},
		{"udp", []string{"-2", "-p", "33434"}},
	}
	branches := map[string][]int{}
	for _, p := range protocols {
		seen := [2]int{}
		for i := range diamondFlows {
			port := strconv.Itoa(diamondFirstPort + i)
			b := branchOf(t, d, 3, append([]string{"-s", port}, p.args...)...)
			branches[p.name] = append(branches[p.name], b)
			seen[b]++
			hop3 := answer(chainHping3(t, d, append([]string{"-t", "3", "-c", "1", "-k", "-s", port}, append(p.args, target)...)...))
			if want := from(d.Hop(3, b)); hop3 != want {
				t.Errorf("%s from port %s: TTL 2 took branch %d, TTL 3 answered %q, want %q (the hop after it)", p.name, port, b, hop3, want)
			}
		}
		if seen[0] == 0 || seen[1] == 0 {
			t.Errorf("%s: %d flows took branch 0 and %d branch 1, want both branches taken", p.name, seen[0], seen[1])
		}
		t.Logf("%s: branches of source ports %d..%d: %v", p.name, diamondFirstPort, diamondFirstPort+diamondFlows-1, branches[p.name])
	}

	// The target's own probes of one flow of each branch.
	for b := range 2 {
		i := indexOf(branches["tcp"], b)
		if i < 0 {
			continue // said above
		}
		port := strconv.Itoa(diamondFirstPort + i)
		// SYNs only: the client's kernel resets the connection the
		// SYN-ACK opens, on the same five-tuple.
		counts, err := d.CountBranches("tcp sport " + port + " tcp flags & (syn | ack) == syn")
		if err != nil {
			t.Fatal(err)
		}
		out := answer(chainHping3(t, d, "-S", "-p", "80", "-s", port, "-k", "-c", "1", target))
		if want := "reply " + target + " ttl=61 SA"; out != want {
			t.Errorf("a SYN from port %s: %q, want %q", port, out, want)
		}
		want := [2]int{}
		want[b] = 1
		if got := [2]int{packets(t, counts[0]), packets(t, counts[1])}; got != want {
			t.Errorf("a SYN from port %s (branch %d at TTL 2) crossed the branches %v times, want %v", port, b, got, want)
		}
	}

	// ICMP echo: each hping3 process has its own echo id.
	var icmp []int
	for range 12 {
		icmp = append(icmp, branchOf(t, d, 1, "-1"))
	}
	if i := indexOf(icmp, 1-icmp[0]); i >= 0 {
		t.Errorf("ICMP echoes of 12 ids took branches %v: the kernel now splits echo by its id, which the diamond's ICMP tests assume it does not", icmp)
	}

	// A branch down: every flow takes the other one; back up, the first
	// flow its branch again.
	b0 := branches["tcp"][0]
	if err := d.BranchDown(b0); err != nil {
		t.Fatal(err)
	}
	for i := range diamondFlows {
		if b := branchOf(t, d, 1, "-S", "-p", "80", "-s", strconv.Itoa(diamondFirstPort+i)); b != 1-b0 {
			t.Errorf("branch %d down: source port %d took it", b0, diamondFirstPort+i)
		}
	}
	if err := d.BranchUp(b0); err != nil {
		t.Fatal(err)
	}
	if b := branchOf(t, d, 1, "-S", "-p", "80", "-s", strconv.Itoa(diamondFirstPort)); b != b0 {
		t.Errorf("branch %d up again: source port %d took branch %d, want %d as before", b0, diamondFirstPort, b, b0)
	}
}

// TestDiamondReachesOnlyLab: the client routes the diamond's /20 and
// nothing else.
func TestDiamondReachesOnlyLab(t *testing.T) {
	t.Parallel()
	d := NewDiamond(t)
	wantRoutes(t, d.Client, "198.18.48.0/24", "198.18.48.0/20")
	if !netip.MustParsePrefix("198.18.48.0/20").Contains(DiamondTarget) {
		t.Errorf("DiamondTarget %s is outside the client's route", DiamondTarget)
	}
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestDiamondHashesICMP: with R1 hashing the ICMP header (HashICMP), the
// echo requests of one hping3 process, whose checksum changes with their
// sequence number, are spread over both branches (32 echoes: all on one
// branch by chance once in 2^31), while TCP flows keep the kernel's
// balancing. A probe that keeps its branch here must hold its checksum.
func TestDiamondHashesICMP(t *testing.T) {
	t.Parallel()
	d := NewDiamond(t)
	if err := d.HashICMP(); err != nil {
		t.Fatal(err)
	}
	out := answer(chainHping3(t, d, "-1", "-t", "2", "-c", "32", "-i", "u10000", DiamondTarget.String()))
	seen := [2]int{}
	for _, a := range strings.Split(out, "; ") {
		for b := range 2 {
			if a == from(d.Hop(2, b)) {
				seen[b]++
			}
		}
	}
	if seen[0]+seen[1] != 32 || seen[0] == 0 || seen[1] == 0 {
		t.Errorf("32 echoes at TTL 2: %d answered by R2a, %d by R2b (%q); want all 32 answered, by both", seen[0], seen[1], out)
	}
	t.Logf("32 echoes of one id: %d over R2a, %d over R2b", seen[0], seen[1])
	if b := branchOf(t, d, 3, "-S", "-p", "80", "-s", strconv.Itoa(diamondFirstPort)); b != 0 {
		t.Errorf("TCP from source port %d took branch %d, want 0 as without HashICMP", diamondFirstPort, b)
	}
}

// TestDiamondsInSeries: behind two diamonds in series the target answers
// (its RST five routers on: TTL 59);
// each TCP flow keeps one branch of each diamond (its TTL 2 to 5 probes
// answered by one branch router and the joiner on its link, packet after
// packet), different source ports take both branches of each diamond, and
// a flow's branch in one diamond does not tell its branch in the other.
func TestDiamondsInSeries(t *testing.T) {
	t.Parallel()
	d := NewDiamonds(t, 2)
	if !netip.MustParsePrefix("198.18.48.0/20").Contains(d.Dst) || d.Dst == DiamondTarget {
		t.Fatalf("target %s: want it in the client's route, and not the single diamond's", d.Dst)
	}
	target := d.Dst.String()
	if got := answer(chainHping3(t, d, "-S", "-p", "80", "-c", "1", target)); got != "reply "+target+" ttl=59 RA" {
		t.Fatalf("a SYN to the target: %q, want its RST", got)
	}
	var seen [2][2]int // [diamond][branch]
	crossed := 0       // flows whose branches differ in number
	for i := range diamondFlows {
		port := strconv.Itoa(diamondFirstPort + i)
		var branch [2]int
		for j := range 2 {
			hop := 2 * (j + 1)
			got := answer(chainHping3(t, d, "-S", "-p", "80", "-s", port, "-k", "-t", strconv.Itoa(hop), "-c", "3", "-i", "u20000", target))
			branch[j] = -1
			for b := range 2 {
				if got == strings.Repeat("; "+from(d.Hop(hop, b)), 3)[2:] {
					branch[j] = b
				}
			}
			if branch[j] < 0 {
				t.Fatalf("port %s, TTL %d: %q, want 3 answers from %s or %s", port, hop, got, d.Hop(hop, 0), d.Hop(hop, 1))
			}
			seen[j][branch[j]]++
			if got := answer(chainHping3(t, d, "-S", "-p", "80", "-s", port, "-k", "-t", strconv.Itoa(hop+1), "-c", "1", target)); got != from(d.Hop(hop+1, branch[j])) {
				t.Errorf("port %s, TTL %d: %q, want %s (the joiner on branch %d's link)", port, hop+1, got, from(d.Hop(hop+1, branch[j])), branch[j])
			}
		}
		if branch[0] != branch[1] {
			crossed++
		}
	}
	t.Logf("flows of %d source ports per diamond and branch: %v", diamondFlows, seen)
	for j := range 2 {
		if seen[j][0] == 0 || seen[j][1] == 0 {
			t.Errorf("diamond %d: branches taken %v, want both", j+1, seen[j])
		}
	}
	if crossed == 0 || crossed == diamondFlows {
		t.Errorf("%d of %d flows took branches of different numbers: the two diamonds' hashes are not independent", crossed, diamondFlows)
	}
}
