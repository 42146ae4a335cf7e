package netlab

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Faults a test switches on and off while the plugin runs, for the
// continuous mode's windows: each is an nftables rule on the target side
// that acts only on the addresses currently in a named set, so a test opens
// and closes it with one nft transaction (every address at once) and times
// that itself. Every rule counts what it did in a counter per address.

// Gate is the set behind such rules; it starts empty (closed).
type Gate struct {
	ns, set string
	addrs   []netip.Addr
	counts  map[netip.Addr]Counter
}

// Span is when one nft command that changed a gate ran: the change took
// effect at some instant between Begin and End.
type Span struct{ Begin, End time.Time }

func (l *Lab) gate(addrs []netip.Addr) (*Gate, error) {
	l.counters++
	g := &Gate{ns: l.Target, set: "g" + strconv.Itoa(l.counters), addrs: addrs, counts: map[netip.Addr]Counter{}}
	return g, nft(g.ns, "add set inet lab "+g.set+" { type ipv4_addr; }")
}

// Outage drops every packet to addrs while it is open: a target that goes
// away for a while. Each address has its own counter of packets dropped
// (Counter).
func (l *Lab) Outage(addrs ...netip.Addr) (*Gate, error) {
	g, err := l.gate(addrs)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		c, err := l.counter(l.Target)
		if err != nil {
			return nil, err
		}
		g.counts[a] = c
		if err := nft(g.ns, fmt.Sprintf("add rule inet lab input_chain ip daddr @%s ip daddr %s counter name %s drop", g.set, a, c.name)); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// GatedLoss drops packets to addrs at random with probability percent/100
// (as Loss) while the gate is open; closed, they pass. The one counter
// holds the number dropped over all of addrs.
func (l *Lab) GatedLoss(percent float64, addrs ...netip.Addr) (*Gate, Counter, error) {
	if percent < 0 || percent > 100 {
		return nil, Counter{}, fmt.Errorf("loss %v%%: want 0..100", percent)
	}
	g, err := l.gate(addrs)
	if err != nil {
		return nil, Counter{}, err
	}
	c, err := l.counter(l.Target)
	if err != nil {
		return nil, c, err
	}
	random := fmt.Sprintf("numgen random mod 10000 < %d ", int(percent*100+0.5))
	if percent == 100 {
		random = "" // numgen's 10000 is out of its range
	}
	return g, c, nft(g.ns, fmt.Sprintf("add rule inet lab input_chain ip daddr @%s %scounter name %s drop", g.set, random, c.name))
}

// Count counts every packet to addrs that reaches the target, before any
// fault added after it acts (rules apply in the order they were added). It
// drops nothing.
func (l *Lab) Count(addrs ...netip.Addr) (Counter, error) {
	c, err := l.counter(l.Target)
	if err != nil {
		return c, err
	}
	return c, nft(l.Target, fmt.Sprintf("add rule inet lab input_chain ip daddr %s counter name %s", set(addrs), c.name))
}

// Counter returns the counter of address a (Outage).
func (g *Gate) Counter(a netip.Addr) Counter { return g.counts[a] }

// Open puts every address of the gates in their sets, in one nft
// transaction: the faults start for all of them at one instant.
func Open(gs ...*Gate) (Span, error) { return change("add", gs) }

// Close takes them out again, in one transaction.
func Close(gs ...*Gate) (Span, error) { return change("delete", gs) }

// Open opens g alone.
func (g *Gate) Open() (Span, error) { return Open(g) }

// Close closes g alone.
func (g *Gate) Close() (Span, error) { return Close(g) }

func change(verb string, gs []*Gate) (Span, error) {
	if len(gs) == 0 {
		return Span{}, nil
	}
	cmds := make([]string, len(gs))
	for i, g := range gs {
		if g.ns != gs[0].ns {
			return Span{}, fmt.Errorf("gates of two namespaces")
		}
		cmds[i] = fmt.Sprintf("%s element inet lab %s %s", verb, g.set, set(g.addrs))
	}
	s := Span{Begin: time.Now()}
	err := nft(gs[0].ns, cmds...) // one nft process: one transaction
	s.End = time.Now()
	return s, err
}

var counterRE = regexp.MustCompile(`counter (\S+) \{\s*packets (\d+)`)

// Sample is the value of some counters at one moment between Begin and End.
type Sample struct {
	Span
	Packets []int // in the order of the counters asked for
}

// ReadCounters reads counters of one namespace with one nft command.
func ReadCounters(cs ...Counter) (Sample, error) {
	if len(cs) == 0 {
		return Sample{}, nil
	}
	s := Sample{Span: Span{Begin: time.Now()}}
	out, err := output("ip", "netns", "exec", cs[0].ns, "nft", "list", "counters", "table", "inet", "lab")
	s.End = time.Now()
	if err != nil {
		return s, err
	}
	byName := map[string]int{}
	for _, m := range counterRE.FindAllStringSubmatch(out, -1) {
		byName[m[1]], _ = strconv.Atoi(m[2])
	}
	for _, c := range cs {
		if c.ns != cs[0].ns {
			return s, fmt.Errorf("counters of two namespaces")
		}
		n, ok := byName[c.name]
		if !ok {
			return s, fmt.Errorf("nft: no counter %s in %q", c.name, strings.TrimSpace(out))
		}
		s.Packets = append(s.Packets, n)
	}
	return s, nil
}
