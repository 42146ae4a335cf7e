package core

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/hping3/tcl"
	"github.com/hping3-plugin/hping3-plugin/plugin/logger"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
	"github.com/hping3-plugin/hping3-plugin/plugin/probe"
)

// Engine timing. The engine answers every command within about a
// millisecond; one that has not answered for hangTimeout is hung (hping3's
// midnight bug can leave it inside a handler for a day) and is killed.
const (
	listenTimeout = 3 * time.Second
	hangTimeout   = time.Second
	// captureGrace is how long after the last packet's timeout the round
	// still reads: the engine stamps a capture when its handler runs,
	// up to a millisecond after the packet arrived.
	captureGrace = 20 * time.Millisecond
	// sendAhead lets packets due within this window go in one write: the
	// sender wakes at most about once per this interval.
	sendAhead = 200 * time.Microsecond
	// catchUp is how many packets' worth of time a sender that woke late
	// may make up at once: the rate holds over any window but for this
	// burst, and a busy host's late wake-ups do not slow a round that the
	// rate cap paces.
	catchUp = 2
	// eventsPerPacket bounds what a sane engine reports: a send record, a
	// reply and a few duplicates or errors per packet. More is a flood.
	eventsPerPacket = 16
	eventsSlack     = 1024
	// tcpWindow is the window of TCP probes, as hping3's own default.
	tcpWindow = 64
)

// identity hands out the identifiers of the probes of one plugin process:
// an ICMP echo id chosen at random, and ICMP sequence numbers and IP ids
// counted from random starts, so that two plugin processes on one host
// never take each other's answers for their own.
type identity struct {
	mu      sync.Mutex
	icmpID  int
	icmpSeq uint16
	ipID    uint16
}

func newIdentity() *identity {
	return &identity{icmpID: rand.IntN(65536), icmpSeq: uint16(rand.Uint32()), ipID: uint16(rand.Uint32())}
}

// next returns the next ICMP sequence number and IP id. The IP id 0 is
// skipped: the kernel replaces it on some paths.
func (id *identity) next() (seq, ipID int) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.icmpSeq++
	id.ipID++
	if id.ipID == 0 {
		id.ipID++
	}
	return int(id.icmpSeq), int(id.ipID)
}

// newProbe builds one probe packet from settings s, the only place the Tcl
// engine's packets are made: the next ICMP sequence number and IP id of
// ids, srcPort (TCP and UDP) from the ports the round or stream reserved.
// payload is the target's data (probePayload), shared by its packets.
func newProbe(ids *identity, src, dst netip.Addr, s config.Settings, payload []byte, srcPort int) packet.Probe {
	seq, ipID := ids.next()
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64 // hping3's default
	}
	p := packet.Probe{Src: src, Dst: dst, TTL: ttl, TOS: s.TOS, IPID: ipID, Payload: payload}
	switch s.Protocol {
	case config.ICMP:
		p.Proto, p.ICMPID, p.ICMPSeq = packet.ProtoICMP, ids.icmpID, seq
	case config.TCP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoTCP, srcPort, s.Port
		p.TCPFlags, p.TCPSeq, p.TCPAck, p.TCPWindow = packet.TCPFlagBits(s.TCPFlags), rand.Uint32(), rand.Uint32(), tcpWindow
	case config.UDP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoUDP, srcPort, s.Port
	}
	return p
}

// probePayload is the data of s's probes: hping3 -d fills with X too.
func probePayload(s config.Settings) []byte { return []byte(strings.Repeat("X", s.DataSize)) }

// batchTarget is one target of a batch: its packets and what became of them.
type batchTarget struct {
	res      *probe.Result
	s        config.Settings
	ip       netip.Addr
	path     path
	err      error // failed before or while probing
	probes   []packet.Probe
	recs     []probe.Record
	answered []bool
	ids      []int // send id of each packet

	// sending
	next int       // packet to send next
	due  time.Time // when it may go

	// Path probing (path = true). A target's path probes are targets of
	// their own, one per TTL, with the settings of their target but the
	// TTL: hops lists them on the target, hopOf points back from them.
	hops     []*batchTarget
	hopOf    *batchTarget
	lastHops int // the target's distance found by the previous round; 0: not known
	// reachedAt is the lowest TTL at which the path ended in this round
	// (probe.EndsPath; 0: none yet): packets of higher TTLs are not sent
	// any more.
	reachedAt int
}

// pathLimit is the highest TTL this round's path probes of t try: the
// distance the previous round found, else max_hops. A path that grew
// longer shows as a target not reached, and the next round tries max_hops
// again.
func (t *batchTarget) pathLimit() int {
	if !t.s.Path {
		return 0
	}
	if t.lastHops > 0 {
		return min(t.lastHops, t.s.MaxHops)
	}
	return t.s.MaxHops
}

// settles reports whether answer a to one of t's packets decides it: the
// target's reply, or for a path probe any answer of its hop (a router's
// time exceeded is what it asks for; probe.PathAnswer).
func (t *batchTarget) settles(a packet.Answer) bool {
	if t.hopOf != nil {
		return probe.PathAnswer(a, t.ip)
	}
	return probe.IsReply(a, t.ip, t.s.Protocol)
}

// finished reports whether every packet of t was answered or failed to
// send: what survives an engine failure.
func (t *batchTarget) finished() bool {
	for k := range t.probes {
		if !t.decided(k) {
			return false
		}
	}
	return true
}

// decided reports whether packet k needs no more waiting: answered, or
// never sent.
func (t *batchTarget) decided(k int) bool {
	return t.answered[k] || t.recs[k].SendErr != nil
}

// batch is the part of a round one Tcl engine process runs: every target
// whose group uses one hping3 binary.
type batch struct {
	bin     string
	log     *logger.Logger
	ids     *identity
	rate    float64 // packets per second this batch may send
	targets []*batchTarget

	byID  []sendRef
	byKey map[packet.Key][]sendRef
}

type sendRef struct {
	t *batchTarget
	k int
}

func (r sendRef) decided() bool { return r.t.decided(r.k) }

// run probes every target of the batch and fills their Results. It returns
// whether an engine process was started.
func (b *batch) run(ctx context.Context) bool {
	live := b.prepare()
	if len(live) == 0 {
		b.finish(nil, nil)
		return false
	}
	tcpPorts, udpPorts := 0, 0
	for _, t := range live {
		switch t.s.Protocol {
		case config.TCP:
			tcpPorts++ // a path probe's TTL too: see build
		case config.UDP:
			udpPorts += t.s.Count
		}
	}
	var blocks []*portBlock
	defer func() {
		for _, pb := range blocks {
			pb.release()
		}
	}()
	var reserveErr error
	reserve := func(sockType, n int) *portBlock {
		if n == 0 || reserveErr != nil {
			return nil
		}
		pb, err := reservePorts(sockType, n)
		if err != nil {
			reserveErr = fmt.Errorf("reserving source ports: %w", err)
			return nil
		}
		blocks = append(blocks, pb)
		return pb
	}
	tcpBlock := reserve(syscall.SOCK_STREAM, tcpPorts)
	udpBlock := reserve(syscall.SOCK_DGRAM, udpPorts)
	if reserveErr != nil {
		for _, t := range live {
			t.err = reserveErr
		}
		b.finish(nil, nil)
		return false
	}
	b.build(live, tcpBlock, udpBlock)
	if b.log.DebugEnabled() {
		for _, t := range live {
			p := &t.probes[0]
			b.log.Debugf("target %q: probing %s from %s on %s: %d packets, protocol %d, source port %d, ip ids from %d", t.res.Target, t.ip, t.path.src, t.path.iface, len(t.probes), p.Proto, p.SrcPort, p.IPID)
		}
	}

	eng, err := tcl.Start(b.bin)
	if err != nil {
		err = fmt.Errorf("starting the hping3 engine (%s exec): %w", b.bin, err)
		for _, t := range live {
			t.err = err
		}
		b.finish(nil, nil)
		return false
	}
	defer eng.Close()
	b.log.Debugf("started %s exec (pid %d) for %d targets", b.bin, eng.Pid(), len(live))
	engErr := b.listen(eng, live, tcpBlock, udpBlock)
	if engErr == nil {
		engErr = b.send(ctx, eng, live)
	}
	if n := eng.Unparsed(); n > 0 {
		b.log.Debugf("the hping3 engine captured %d packets whose text could not be read (ignored)", n)
	}
	b.finish(eng, engErr)
	return true
}

// prepare routes every resolved target; it returns those that can be probed.
func (b *batch) prepare() []*batchTarget {
	r := newRouter()
	var live []*batchTarget
	for _, t := range b.targets {
		if t.res.Code != probe.OK {
			continue
		}
		if t.path, t.err = r.route(t.ip, t.s.Interface); t.err != nil {
			continue
		}
		live = append(live, t)
		for h := 1; h <= t.pathLimit(); h++ {
			s := t.s
			s.TTL = h
			ht := &batchTarget{res: t.res, s: s, ip: t.ip, path: t.path, hopOf: t}
			t.hops = append(t.hops, ht)
			live = append(live, ht)
		}
	}
	return live
}

// build gives every packet its identifiers, payload and send id.
func (b *batch) build(live []*batchTarget, tcpBlock, udpBlock *portBlock) {
	b.byKey = map[packet.Key][]sendRef{}
	tcpNext, udpNext := 0, 0
	for _, t := range live {
		n := t.s.Count
		t.probes = make([]packet.Probe, n)
		t.recs = make([]probe.Record, n)
		t.answered = make([]bool, n)
		t.ids = make([]int, n)
		payload := probePayload(t.s)
		// One TCP source port per target and per path TTL: the target
		// holds a half-open connection for a port it answered SYN-ACK on
		// until our RST reaches it, and answers another SYN on that port
		// meanwhile with a bare ACK, not a SYN-ACK.
		tcpPort := 0
		if t.s.Protocol == config.TCP {
			tcpPort = tcpBlock.ports[tcpNext]
			tcpNext++
		}
		for k := range n {
			port := tcpPort
			if t.s.Protocol == config.UDP {
				port = udpBlock.ports[udpNext] // one per packet
				udpNext++
			}
			p := newProbe(b.ids, t.path.src, t.ip, t.s, payload, port)
			t.probes[k] = p
			t.ids[k] = len(b.byID)
			ref := sendRef{t, k}
			b.byID = append(b.byID, ref)
			key := p.Key()
			b.byKey[key] = append(b.byKey[key], ref)
		}
	}
}

// listen opens the batch's captures (openCaptures); a target whose
// interface could not be captured on fails with the reason.
func (b *batch) listen(eng *tcl.Process, live []*batchTarget, tcpBlock, udpBlock *portBlock) error {
	paths := make([]capturePath, len(live))
	for i, t := range live {
		paths[i] = capturePath{t.path, t.s.Protocol == config.ICMP}
	}
	failed, err := openCaptures(eng, b.bin, b.ids.icmpID, paths, tcpBlock, udpBlock)
	for _, t := range live {
		if ferr := failed[t.path.iface]; ferr != nil {
			t.err = ferr
		}
	}
	return err
}

// capturePath is what the capture filters need of one target: its
// outgoing interface and source address, and whether it sends ICMP echoes.
type capturePath struct {
	path path
	icmp bool
}

// openCaptures opens one capture per outgoing interface of paths, filtered
// in the kernel to what can answer the probes: packets to our source
// addresses that are ICMP (but no echo request, and echo replies only with
// our id), or TCP and UDP to our reserved ports. It returns the interfaces
// whose capture failed, with the reason, and an error when the engine
// itself failed.
func openCaptures(eng *tcl.Process, bin string, icmpID int, paths []capturePath, tcpBlock, udpBlock *portBlock) (map[string]error, error) {
	type capture struct {
		srcs  []string
		icmp  bool
		ready bool
	}
	caps := map[string]*capture{}
	var order []string
	for _, p := range paths {
		c := caps[p.path.iface]
		if c == nil {
			c = &capture{}
			caps[p.path.iface] = c
			order = append(order, p.path.iface)
		}
		if src := p.path.src.String(); !slices.Contains(c.srcs, src) {
			c.srcs = append(c.srcs, src)
		}
		c.icmp = c.icmp || p.icmp
	}
	for _, ifname := range order {
		c := caps[ifname]
		hosts := make([]string, len(c.srcs))
		for i, s := range c.srcs {
			hosts[i] = "dst host " + s
		}
		icmp := "icmp[0] != 0 and icmp[0] != 8"
		if c.icmp {
			icmp = fmt.Sprintf("icmp[0] != 8 and (icmp[0] != 0 or icmp[4:2] = %d)", icmpID)
		}
		terms := []string{"icmp and " + icmp}
		if tcpBlock != nil {
			terms = append(terms, fmt.Sprintf("tcp dst portrange %d-%d", tcpBlock.lo, tcpBlock.hi))
		}
		if udpBlock != nil {
			terms = append(terms, fmt.Sprintf("udp dst portrange %d-%d", udpBlock.lo, udpBlock.hi))
		}
		filter := fmt.Sprintf("ip and (%s) and ((%s))", strings.Join(hosts, " or "), strings.Join(terms, ") or ("))
		if err := eng.Listen(ifname, filter); err != nil {
			return nil, err
		}
	}
	failed := map[string]error{}
	timer := time.NewTimer(listenTimeout)
	defer timer.Stop()
	for pending := len(order); pending > 0; {
		select {
		case evs, ok := <-eng.Events():
			if !ok {
				return failed, eng.Err()
			}
			for _, ev := range evs {
				if ev.Kind == tcl.Captured {
					continue // a capture already open: nothing was sent yet
				}
				c := caps[ev.Iface]
				if c == nil || c.ready || (ev.Kind != tcl.Listening && ev.Kind != tcl.ListenFailed) {
					return failed, fmt.Errorf("the hping3 engine answered out of turn while opening captures")
				}
				c.ready = true
				pending--
				if ev.Kind == tcl.ListenFailed {
					failed[ev.Iface] = tcl.ListenError(bin, ev.Iface, ev.Err)
				}
			}
		case <-timer.C:
			return failed, fmt.Errorf("the hping3 engine did not open its captures within %v", listenTimeout)
		}
	}
	return failed, nil
}

// send paces every packet out and reads the engine's records until every
// packet is answered or past its timeout. Packets of one target are
// interval apart; no two sends are closer than 1/rate. It returns why the
// engine failed, or nil.
func (b *batch) send(ctx context.Context, eng *tcl.Process, live []*batchTarget) error {
	// Every target is due at once: the rate limit spaces their first
	// packets 1/rate apart, and each next packet is due interval after the
	// last, so the targets keep that order and spacing. A round then lasts
	// max((count-1) x interval, packets / rate) plus the slowest reply.
	start := time.Now()
	q := &timeQueue[*batchTarget]{at: func(t *batchTarget) time.Time { return t.due }}
	total := 0
	for _, t := range live {
		if t.err != nil {
			continue
		}
		t.due = start
		if t.hopOf != nil {
			// In TTL order: every target's lower TTLs go before any
			// higher one, so the answer that ends a path is mostly back
			// before the TTLs past it are due, and they are not sent.
			t.due = start.Add(time.Duration(t.s.TTL))
		}
		heap.Push(q, t)
		total += len(t.probes)
	}
	gap := time.Duration(float64(time.Second) / b.rate)
	var nextSlot time.Time
	dispatched := make([]time.Time, len(b.byID))
	acked := make([]bool, len(b.byID))
	sendOrder := make([]int, 0, len(b.byID)) // ids as written: the engine acknowledges in this order
	nextAck, sentCount, decided, events := 0, 0, 0, 0
	maxEvents := eventsSlack + eventsPerPacket*total
	syncing, syncSent := false, time.Time{}
	var lastDecision time.Time
	var byDeadline []sendRef // every sent packet by deadline, once all are sent

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		// Send what is due.
		for q.Len() > 0 {
			t := q.first()
			if h := t.hopOf; h != nil && h.reachedAt > 0 && t.s.TTL > h.reachedAt {
				heap.Pop(q) // beyond the target: its packets are not sent
				continue
			}
			slot := later(t.due, nextSlot)
			if slot.After(now.Add(sendAhead)) {
				break
			}
			// A sender that woke late makes up at most catchUp packets'
			// time: catching up more in a burst would exceed the rate.
			slot = later(slot, now.Add(-catchUp*gap))
			k := t.next
			if err := eng.Send(t.ids[k], &t.probes[k]); err != nil {
				return err
			}
			dispatched[t.ids[k]] = now
			sendOrder = append(sendOrder, t.ids[k])
			sentCount++
			nextSlot = slot.Add(gap)
			t.next++
			if t.next == len(t.probes) {
				heap.Pop(q)
				continue
			}
			// At least interval after this packet really went.
			t.due = later(slot, now).Add(t.s.Interval)
			heap.Fix(q, 0)
		}
		if err := eng.Flush(); err != nil {
			return err
		}
		for nextAck < sentCount && acked[sendOrder[nextAck]] {
			nextAck++
		}
		if nextAck < sentCount && now.Sub(dispatched[sendOrder[nextAck]]) > hangTimeout {
			return fmt.Errorf("the hping3 engine stopped answering (no send record for %v): killed", hangTimeout)
		}

		// Done when everything was sent and acknowledged, and every
		// packet is answered or past its timeout.
		wake := now.Add(hangTimeout)
		if q.Len() > 0 {
			wake = later(q.first().due, nextSlot)
		}
		if nextAck < sentCount {
			if hung := dispatched[sendOrder[nextAck]].Add(hangTimeout + time.Millisecond); hung.Before(wake) {
				wake = hung
			}
		}
		if q.Len() == 0 && nextAck == sentCount && !syncing {
			// Answers may still come after the last decision (duplicates
			// of it, say): read on for captureGrace.
			last := lastDecision.Add(captureGrace)
			if decided < total {
				if byDeadline == nil {
					byDeadline = b.byDeadline(live)
				}
				// The latest deadline of a packet still undecided: answers
				// only ever remove packets from the end of the list.
				for len(byDeadline) > 0 && byDeadline[len(byDeadline)-1].decided() {
					byDeadline = byDeadline[:len(byDeadline)-1]
				}
				if n := len(byDeadline); n > 0 {
					last = later(last, b.deadline(byDeadline[n-1]))
				}
			}
			if !now.Before(last) {
				syncing, syncSent = true, now
				if err := eng.Sync(1); err != nil {
					return err
				}
			} else {
				wake = last
			}
		}
		if syncing {
			if now.Sub(syncSent) > hangTimeout {
				return fmt.Errorf("the hping3 engine did not answer for %v at the end of the round: killed", hangTimeout)
			}
			wake = syncSent.Add(hangTimeout)
		}
		timer.Reset(max(time.Until(wake), 0))

		select {
		case <-ctx.Done():
			return errors.New("probe cancelled: the plugin is stopping")
		case <-timer.C:
		case evs, ok := <-eng.Events():
			if !ok {
				return eng.Err()
			}
			if events += len(evs); events > maxEvents {
				return fmt.Errorf("the hping3 engine flooded: more than %d records for %d packets: killed", maxEvents, total)
			}
			for _, ev := range evs {
				switch ev.Kind {
				case tcl.Sent, tcl.SendFailed:
					if ev.ID >= len(b.byID) || dispatched[ev.ID].IsZero() || acked[ev.ID] {
						return fmt.Errorf("the hping3 engine reported send %d, which it was not given", ev.ID)
					}
					acked[ev.ID] = true
					ref := b.byID[ev.ID]
					if ev.Kind == tcl.SendFailed {
						ref.t.recs[ref.k].SendErr = tcl.SendError(b.bin, ev.Err)
						decided++
						lastDecision = time.Now()
					} else {
						ref.t.recs[ref.k].Sent = ev.At
					}
				case tcl.Captured:
					if b.match(ev) {
						decided++
						lastDecision = time.Now()
					}
				case tcl.Synced:
					if syncing {
						return nil
					}
				default:
					return fmt.Errorf("the hping3 engine answered out of turn")
				}
			}
		}
	}
}

// byDeadline lists every packet of live that was sent, by its deadline
// (send time plus its timeout).
func (b *batch) byDeadline(live []*batchTarget) []sendRef {
	refs := []sendRef{}
	for _, t := range live {
		for k := range t.probes {
			if !t.recs[k].Sent.IsZero() {
				refs = append(refs, sendRef{t, k})
			}
		}
	}
	slices.SortFunc(refs, func(x, y sendRef) int { return b.deadline(x).Compare(b.deadline(y)) })
	return refs
}

func (b *batch) deadline(r sendRef) time.Time {
	return r.t.recs[r.k].Sent.Add(r.t.s.Timeout + captureGrace)
}

// match files a captured packet under the probe it answers, if any, and
// reports whether that decides a packet (its first reply in time).
func (b *batch) match(ev tcl.Event) bool {
	ref, a, ok := fileAnswer(b.byKey, ev, func(r sendRef) (*packet.Probe, *probe.Record) {
		return &r.t.probes[r.k], &r.t.recs[r.k]
	})
	if !ok {
		return false
	}
	t, p, rec := ref.t, &ref.t.probes[ref.k], &ref.t.recs[ref.k]
	if t.answered[ref.k] || rec.Sent.IsZero() || !t.settles(a) || ev.At.Sub(rec.Sent) > t.s.Timeout {
		return false
	}
	t.answered[ref.k] = true
	if h := t.hopOf; h != nil && probe.EndsPath(a, p.Dst) && (h.reachedAt == 0 || p.TTL < h.reachedAt) {
		h.reachedAt = p.TTL
	}
	return true
}

// fileAnswer files a captured packet under the probe among byKey's it
// answers (packet.Lookup, then packet.Answers), and returns that probe's
// entry and the answer: the matching a round and a stream share. of gives
// an entry's probe and record.
func fileAnswer[T any](byKey map[packet.Key][]T, ev tcl.Event, of func(T) (*packet.Probe, *probe.Record)) (T, packet.Answer, bool) {
	c := ev.Packet
	if key, kind, ok := c.Lookup(); ok {
		for _, e := range byKey[key] {
			p, rec := of(e)
			if a, ok := packet.Answers(p, c, kind); ok {
				rec.Answers = append(rec.Answers, probe.TimedAnswer{Answer: a, At: ev.At})
				return e, a, true
			}
		}
	}
	var none T
	return none, packet.Answer{}, false
}

// finish turns every target's records into its Result. When the engine
// failed, targets it left unfinished fail with its reason.
func (b *batch) finish(eng *tcl.Process, engErr error) {
	for _, t := range b.targets {
		r := t.res
		if r.Code != probe.OK {
			continue
		}
		r.Ran = eng != nil
		switch {
		case t.err != nil:
			r.Code, r.Err = probe.Failed, t.err
			continue
		case engErr != nil && !t.finished():
			r.Code, r.Err = probe.Failed, engErr
			continue
		}
		probe.Measure(r, t.recs, t.s)
		first, end := time.Time{}, time.Time{}
		var sendErr error
		for k, rec := range t.recs {
			if rec.SendErr != nil && sendErr == nil {
				sendErr = rec.SendErr
			}
			if rec.Sent.IsZero() {
				continue
			}
			if first.IsZero() {
				first = rec.Sent
			}
			done := rec.Sent.Add(t.s.Timeout)
			if t.answered[k] {
				for _, a := range rec.Answers {
					if probe.IsReply(a.Answer, t.ip, t.s.Protocol) {
						done = a.At
						break
					}
				}
			}
			end = later(end, done)
		}
		switch {
		case sendErr != nil:
			r.Code, r.Err = probe.Failed, sendErr
		case r.Transmitted == 0:
			r.Code, r.Err = probe.Failed, errors.New("the hping3 engine sent no packet")
		}
		if !first.IsZero() {
			r.Start, r.Duration = first, end.Sub(first)+r.DNS
		}
		if len(t.hops) > 0 && r.Code == probe.OK {
			r.Path = t.measurePath(engErr)
		}
	}
}

// measurePath measures t's path from its path probes; nil when the engine
// failed before they were all decided (the target's own result stands).
func (t *batchTarget) measurePath(engErr error) *probe.Path {
	byTTL := make([][]probe.Record, len(t.hops))
	for i, ht := range t.hops {
		if engErr != nil && !ht.finished() {
			return nil
		}
		byTTL[i] = ht.recs
	}
	return probe.MeasurePath(byTTL, t.ip, t.s)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
