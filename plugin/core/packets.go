package core

import (
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// tcpWindow is the window of TCP probes, as hping3's own default.
const tcpWindow = 64

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

// nextProbe builds t's next packet, the only place the Tcl engine's
// packets are made: from t's validated settings, route and reserved source
// ports, with the next identifiers of ids. A UDP target cycles through its
// ports (one per packet in a round; in continuous mode a port comes round
// again only after its previous packet was decided).
func (t *target) nextProbe(ids *identity) packet.Probe {
	seq, ipID := ids.next()
	s := t.s
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64 // hping3's default
	}
	p := packet.Probe{Src: t.route.src, Dst: t.ip, TTL: ttl, TOS: s.TOS, IPID: ipID, Payload: t.payload}
	switch s.Protocol {
	case config.ICMP:
		p.Proto, p.ICMPID, p.ICMPSeq = packet.ProtoICMP, ids.icmpID, seq
	case config.TCP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoTCP, t.tcpPort, s.Port
		p.TCPFlags, p.TCPSeq, p.TCPAck, p.TCPWindow = packet.TCPFlagBits(s.TCPFlags), rand.Uint32(), rand.Uint32(), tcpWindow
	case config.UDP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoUDP, t.udpPorts[t.udpNext], s.Port
		t.udpNext = (t.udpNext + 1) % len(t.udpPorts)
	}
	return p
}

// probePayload is the data of s's probes: hping3 -d fills with X too.
func probePayload(s config.Settings) []byte { return []byte(strings.Repeat("X", s.DataSize)) }
