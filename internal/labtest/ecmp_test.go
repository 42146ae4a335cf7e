package labtest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hping3-plugin/hping3-plugin/internal/netlab"
	"github.com/hping3-plugin/hping3-plugin/internal/testbin"
)

// Path probes through netlab's diamond, which balances load over two
// branches by each packet's five-tuple (and, with HashICMP, ICMP echo by
// its header): every packet of a target, path probes included, must take
// one branch, the same in every round.

// diamond builds n diamonds in series (netlab.NewDiamonds) and checks for
// hping3.
func diamond(t *testing.T, n int) *netlab.Diamond {
	t.Helper()
	d := netlab.NewDiamonds(t, n)
	testbin.RequireTool(t, "hping3")
	return d
}

// diamondGroup is one table probing the diamond's target with path probes.
func diamondGroup(protocol string, port, count int) string {
	s := fmt.Sprintf("[[inputs.hping3]]\ntargets = [%q]\nprotocol = %q\ncount = %d\ninterval = \"20ms\"\ntimeout = \"500ms\"\npath = true\nmax_hops = 8\n",
		netlab.DiamondTarget.String(), protocol, count)
	if port != 0 {
		s += fmt.Sprintf("port = %d\n", port)
	}
	return s
}

// diamondCase is one protocol and port of the diamond's target, and the
// nftables expression that counts the target's own probes (TTL 64: past
// R2 they have 61, path probes at most max_hops) on each branch.
type diamondCase struct {
	name     string
	protocol string
	port     int
	own      string
	open     bool // a TCP port the target listens on
}

var diamondCases = []diamondCase{
	{"tcp open port", "tcp", 8080, "tcp dport 8080 tcp flags & (syn | ack | rst) == syn ip ttl > 32", true},
	{"tcp closed port", "tcp", 8081, "tcp dport 8081 tcp flags & (syn | ack | rst) == syn ip ttl > 32", false},
	{"udp closed port", "udp", 33434, "udp dport 33434 ip ttl > 32", false},
	{"icmp", "icmp", 0, "icmp type echo-request ip ttl > 32", false},
}

// TestTclPathOneFlowOverECMP: over eight rounds (eight plugin processes,
// each with its own random identifiers), each protocol's path shows one
// responder per hop, hops 2 and 3 on one branch (a link that exists), the
// branch the target's own probes took in every round (nftables counts them
// on that branch only), the same path_id every round, and no loss at any
// hop or at the target: the path probes that reach the target do not spoil
// the target's own answers, nor it theirs. Taking that branch down moves
// the path to the other one, with another path_id.
func TestTclPathOneFlowOverECMP(t *testing.T) {
	d := diamond(t, 1)
	if err := d.HashICMP(); err != nil {
		t.Fatal(err)
	}
	if err := d.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	const rounds, count = 8, 5
	target := netlab.DiamondTarget.String()
	for _, c := range diamondCases {
		t.Run(c.name, func(t *testing.T) {
			counters, err := d.CountBranches(c.own)
			if err != nil {
				t.Fatal(err)
			}
			key := target
			if c.port != 0 {
				key += ":" + strconv.Itoa(c.port)
			}
			branch, id := -1, ""
			for i := range rounds {
				r := round(t, d, diamondGroup(c.protocol, c.port, count))
				p := r.get(t, key)
				b := checkDiamondPath(t, d, r, p, count, c)
				if i == 0 {
					branch, id = b, p.str("path_id")
					t.Logf("%s: branch %d, path_id %s", c.name, branch, id)
				}
				if b != branch || p.str("path_id") != id {
					t.Errorf("round %d: branch %d, path_id %s; round 1 had branch %d, path_id %s", i+1, b, p.str("path_id"), branch, id)
				}
			}
			for b, cnt := range counters {
				n := counted(t, cnt)
				want := 0
				if b == branch {
					want = rounds * count
				}
				if n != want {
					t.Errorf("branch %d forwarded %d of the target's own probes, want %d (the path's hops are on branch %d)", b, n, want, branch)
				}
			}
			if branch < 0 || t.Failed() {
				return
			}
			if err := d.BranchDown(branch); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := d.BranchUp(branch); err != nil {
					t.Fatal(err)
				}
			}()
			r := round(t, d, diamondGroup(c.protocol, c.port, count))
			p := r.get(t, key)
			if b := checkDiamondPath(t, d, r, p, count, c); b != 1-branch {
				t.Errorf("branch %d down: the path took branch %d", branch, b)
			}
			if p.str("path_id") == id {
				t.Errorf("branch %d down: path_id %s unchanged", branch, id)
			}
		})
	}
}

// checkDiamondPath checks one round's path of the diamond's target: every
// hop answered by one responder, hop 2 and hop 3 on one branch, every
// packet answered; it returns the branch (-1 when none could be told).
func checkDiamondPath(t *testing.T, d *netlab.Diamond, r run, p point, count int, c diamondCase) int {
	t.Helper()
	if tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received"); tx != count || rx != count {
		t.Errorf("target: %d sent, %d received; want %d, %d", tx, rx, count, count)
	}
	if hc := p.int(t, "hop_count"); hc != 4 {
		t.Errorf("hop_count %d, want 4 (R1, R2a or R2b, R3, the target)", hc)
	}
	if len(r.hops) != 4 {
		for _, l := range r.hops {
			t.Logf("hop line: %v %v", l.tags, l.fields)
		}
		t.Errorf("%d hop lines, want 4: one responder per hop", len(r.hops))
		return -1
	}
	branch := d.BranchOf(2, r.hops[1].tags["hop_ip"])
	if branch < 0 {
		t.Errorf("hop 2 answered from %q, neither R2a's %s nor R2b's %s", r.hops[1].tags["hop_ip"], d.Hop(2, 0), d.Hop(2, 1))
		return -1
	}
	want := []netip.Addr{d.Hop(1, branch), d.Hop(2, branch), d.Hop(3, branch), netlab.DiamondTarget}
	for i, l := range r.hops {
		if l.tags["hop"] != strconv.Itoa(i+1) || l.tags["hop_ip"] != want[i].String() {
			t.Errorf("hop line %d: hop %s from %s, want hop %d from %s (branch %d)", i, l.tags["hop"], l.tags["hop_ip"], i+1, want[i], branch)
		}
		if tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received"); tx != count || rx != count {
			t.Errorf("hop %d (%s): %d sent, %d answered; want %d, %d", i+1, l.tags["hop_ip"], tx, rx, count, count)
		}
	}
	if c.protocol == "tcp" {
		want := "closed"
		if c.open {
			want = "open"
		}
		if got := r.hops[3].str("port_state"); got != want {
			t.Errorf("the target's hop: port_state %q, want %q", got, want)
		}
	}
	return branch
}

// TestTclPathOneFlowAcrossRestart: in continuous mode a TCP path to the
// diamond's open port keeps its branch and path_id across an engine that
// is killed and starts again, three times (each a new session, with new
// identifiers): the
// flow is the target's, not the session's. Every hop answers every packet
// of the windows before and after.
func TestTclPathOneFlowAcrossRestart(t *testing.T) {
	d := diamond(t, 1)
	if err := d.ListenTCP(8080); err != nil {
		t.Fatal(err)
	}
	dm := startDaemon(t, d, "mode = \"continuous\"\n"+diamondGroup("tcp", 8080, 1))
	key := netlab.DiamondTarget.String() + ":8080"
	// window returns a full window: the one after the window that
	// covered the first sweep or the restart.
	window := func() report {
		time.Sleep(time.Second)
		dm.ask()
		time.Sleep(time.Second)
		return dm.ask()
	}
	look := func(name string, rep report) (int, string) {
		t.Helper()
		p := rep.line(t, 0, key)
		if len(rep.hops) != 4 {
			t.Fatalf("%s: %d hop lines, want 4: %v", name, len(rep.hops), rep.hops)
		}
		branch := d.BranchOf(2, rep.hops[1].tags["hop_ip"])
		for i, l := range rep.hops {
			want := netlab.DiamondTarget
			if i < 3 && branch >= 0 {
				want = d.Hop(i+1, branch)
			}
			tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received")
			if branch < 0 || l.tags["hop_ip"] != want.String() || tx == 0 || rx != tx {
				t.Errorf("%s: hop %s from %s, %d of %d answered; want %s (branch %d), all answered", name, l.tags["hop"], l.tags["hop_ip"], rx, tx, want, branch)
			}
		}
		if tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received"); tx == 0 || rx != tx {
			t.Errorf("%s: the target answered %d of %d", name, rx, tx)
		}
		return branch, p.str("path_id")
	}
	dm.engineUp()
	b1, id1 := look("before", window())
	// Three restarts: a flow drawn anew each session would keep its
	// branch through all of them once in eight.
	for k := 1; k <= 3; k++ {
		engines := dm.engines()
		if len(engines) != 1 {
			t.Fatalf("the plugin has %d hping3 children %v, want one engine", len(engines), engines)
		}
		kill(t, engines[0])
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if es := dm.engines(); len(es) == 1 && es[0] != engines[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new engine within 5 s of kill %d; stderr:\n%s", k, dm.stderr.String())
			}
		}
		name := fmt.Sprintf("after restart %d", k)
		if b, id := look(name, window()); b != b1 || id != id1 {
			t.Errorf("branch %d, path_id %s before the engine restarts; branch %d, path_id %s %s", b1, id1, b, id, name)
		}
	}
}

// TestTclPathFlowsFindBothBranches: with flows = 8 the path probes take 8
// flows, which the diamond spreads over both branches (each flow's branch
// fixed by the hash seed): hops 2 and 3 show both branches, the flows of
// each branch the same at both hops, two distinct paths among eight flow
// lines. Then the R2 of the branch with more flows drops 25% of the path
// probes that reach R3 and the target and of the target's own packets: the
// loss shows at hop 3 on that branch's line only (or, for a flow that lost
// every packet there, on the hop's line without responder), exactly as
// nftables dropped, and at the target's hop; hops 1 and 2 and the other
// branch lose nothing.
func TestTclPathFlowsFindBothBranches(t *testing.T) {
	const count, flows = 48, 8 // 6 packets per flow and TTL
	for _, c := range []diamondCase{diamondCases[1], diamondCases[3]} {
		t.Run(c.name, func(t *testing.T) {
			d := diamond(t, 1) // a diamond of its own: the loss stays in
			if err := d.HashICMP(); err != nil {
				t.Fatal(err)
			}
			key := netlab.DiamondTarget.String()
			if c.port != 0 {
				key += ":" + strconv.Itoa(c.port)
			}
			group := strings.Replace(diamondGroup(c.protocol, c.port, count), "interval = \"20ms\"", "interval = \"10ms\"", 1) + fmt.Sprintf("flows = %d\n", flows)
			r := round(t, d, group)
			p := r.get(t, key)
			branchFlows := checkFlows(t, d, r, p, flows, count, false)
			lossy := 0
			if branchFlows[1] > branchFlows[0] {
				lossy = 1
			}
			t.Logf("flows per branch %v; loss on branch %d", branchFlows, lossy)

			perTTL, own, err := d.BranchLoss(lossy, 25)
			if err != nil {
				t.Fatal(err)
			}
			r = round(t, d, group)
			p = r.get(t, key)
			if got := checkFlows(t, d, r, p, flows, count, true); got != branchFlows {
				t.Errorf("flows per branch %v with loss, %v without", got, branchFlows)
			}
			d3, d4, dOwn := counted(t, perTTL[3]), counted(t, perTTL[4]), counted(t, own)
			t.Logf("branch %d dropped %d at TTL 3, %d at TTL 4, %d of the target's own", lossy, d3, d4, dOwn)
			if d3 == 0 || d4 == 0 {
				t.Fatalf("branch %d dropped %d and %d path probes: the test needs some", lossy, d3, d4)
			}
			// Packets lost without responder: flows that lost all theirs.
			silent := map[string]int{}
			for _, l := range r.hops {
				if l.tags["hop_ip"] == "" {
					silent[l.tags["hop"]] += l.int(t, "packets_transmitted")
				}
			}
			for _, l := range r.hops {
				tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received")
				hop, ip := l.tags["hop"], l.tags["hop_ip"]
				want := tx
				switch {
				case ip == "":
					want = 0
				case hop == "3" && ip == d.Hop(3, lossy).String():
					want = tx - (d3 - silent[hop])
				case hop == "4":
					want = tx - (d4 - silent[hop])
				}
				if rx != want {
					t.Errorf("hop %s %s: %d of %d answered, want %d (branch %d dropped %d at TTL 3, %d at TTL 4)", hop, ip, rx, tx, want, lossy, d3, d4)
				}
			}
			if tx, rx := p.int(t, "packets_transmitted"), p.int(t, "packets_received"); tx != count || rx != count-dOwn {
				t.Errorf("the target's own: %d of %d received, want %d", rx, tx, count-dOwn)
			}
		})
	}
}

// checkFlows checks a round's path over flows: both branches at hops 2
// and 3, each hop's packets all accounted for (count per TTL), the flows of
// each branch at hop 2 together all of them, two distinct paths, one flow
// line per flow; without loss also every line with a responder, and the
// flows of each branch the same at hop 3. It returns the flows of each
// branch.
func checkFlows(t *testing.T, d *netlab.Diamond, r run, p point, flows, count int, loss bool) [2]int {
	t.Helper()
	if n := p.int(t, "paths"); n != 2 {
		t.Errorf("paths %d, want 2", n)
	}
	var branch [2]int
	sent := map[string]int{}
	for _, l := range r.hops {
		hop, ip := l.tags["hop"], l.tags["hop_ip"]
		sent[hop] += l.int(t, "packets_transmitted")
		if b := d.BranchOf(2, ip); hop == "2" && b >= 0 {
			branch[b] = l.int(t, "flows")
		}
	}
	for _, l := range r.hops {
		if loss {
			break
		}
		hop, ip := l.tags["hop"], l.tags["hop_ip"]
		for b := range 2 {
			if hop == "3" && ip == d.Hop(3, b).String() && l.int(t, "flows") != branch[b] {
				t.Errorf("hop 3 on branch %d: %d flows, hop 2 on it %d", b, l.int(t, "flows"), branch[b])
			}
		}
		if ip == "" {
			t.Errorf("hop %s: a line without responder (%d packets)", hop, l.int(t, "packets_transmitted"))
		}
	}
	if branch[0] == 0 || branch[1] == 0 || branch[0]+branch[1] != flows {
		for _, l := range r.hops {
			t.Logf("hop line: %v %v", l.tags, l.fields)
		}
		t.Errorf("flows per branch %v at hop 2, want both branches and %d in all", branch, flows)
	}
	for _, hop := range []string{"1", "2", "3", "4"} {
		if sent[hop] != count {
			t.Errorf("hop %s: %d packets in its lines, want %d", hop, sent[hop], count)
		}
	}
	ids := map[string]bool{}
	for _, l := range r.flows {
		ids[l.str("path_id")] = true
	}
	if len(r.flows) != flows || len(ids) != 2 {
		t.Errorf("%d flow lines with %d distinct path ids, want %d and 2", len(r.flows), len(ids), flows)
	}
	return branch
}

// TestTclPathTwoDiamonds: through two diamonds in series, one flow gives
// six hops whose branch routers and joiners pair up (hops 2 and 3 on one
// branch of the first diamond, 4 and 5 on one of the second), every packet
// answered; eight flows find both branches of each diamond, with the same
// flows on a branch at its router and its joiner, and two to four paths.
func TestTclPathTwoDiamonds(t *testing.T) {
	d := diamond(t, 2)
	target := d.Dst.String()
	key := target + ":8081"
	group := func(count, flows int) string {
		return fmt.Sprintf("[[inputs.hping3]]\ntargets = [%q]\nprotocol = \"tcp\"\nport = 8081\ncount = %d\ninterval = \"10ms\"\ntimeout = \"500ms\"\npath = true\nmax_hops = 10\nflows = %d\n", target, count, flows)
	}
	r := round(t, d, group(10, 1))
	p := r.get(t, key)
	if hc := p.int(t, "hop_count"); hc != 6 || len(r.hops) != 6 {
		t.Fatalf("hop_count %d, %d hop lines: want 6 and 6 (R1, R2x, R3, R4x, R5, the target)", hc, len(r.hops))
	}
	for j := range 2 {
		branch := d.BranchOf(2*j+2, r.hops[2*j+1].tags["hop_ip"])
		if branch < 0 || r.hops[2*j+2].tags["hop_ip"] != d.Hop(2*j+3, branch).String() {
			t.Errorf("diamond %d: hops %d and %d from %s and %s, not a branch router and the joiner on its link", j+1, 2*j+2, 2*j+3, r.hops[2*j+1].tags["hop_ip"], r.hops[2*j+2].tags["hop_ip"])
		}
	}
	for _, l := range r.hops {
		if tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received"); tx != 10 || rx != 10 {
			t.Errorf("hop %s (%s): %d of %d answered, want 10 of 10", l.tags["hop"], l.tags["hop_ip"], rx, tx)
		}
	}

	r = round(t, d, group(48, 8))
	p = r.get(t, key)
	if n := p.int(t, "paths"); n < 2 || n > 4 {
		t.Errorf("paths %d, want 2 to 4", n)
	}
	flowsAt := map[string]int{} // hop/address: flows
	for _, l := range r.hops {
		flowsAt[l.tags["hop"]+"/"+l.tags["hop_ip"]] = l.int(t, "flows")
		if tx, rx := l.int(t, "packets_transmitted"), l.int(t, "packets_received"); tx == 0 || rx != tx {
			t.Errorf("hop %s (%s): %d of %d answered", l.tags["hop"], l.tags["hop_ip"], rx, tx)
		}
	}
	for j := range 2 {
		sum := 0
		for b := range 2 {
			router := flowsAt[strconv.Itoa(2*j+2)+"/"+d.Hop(2*j+2, b).String()]
			joiner := flowsAt[strconv.Itoa(2*j+3)+"/"+d.Hop(2*j+3, b).String()]
			if router == 0 || router != joiner {
				t.Errorf("diamond %d, branch %d: %d flows at its router, %d at the joiner on its link; want the same, not 0", j+1, b, router, joiner)
			}
			sum += router
		}
		if sum != 8 {
			t.Errorf("diamond %d: %d flows over its branches, want 8", j+1, sum)
		}
	}
	if len(r.flows) != 8 {
		t.Errorf("%d flow lines, want 8", len(r.flows))
	}
	t.Logf("flows at each hop and responder: %v", flowsAt)
}
