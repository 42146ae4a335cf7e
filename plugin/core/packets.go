package core

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// tcpWindow is the window of TCP probes, as hping3's own default.
const tcpWindow = 64

// identity hands out what tells the probes of one plugin process apart
// from another's: ICMP sequence numbers and IP ids counted from random
// starts, and a random tag every ICMP probe carries in its payload (an
// echo reply returns it, and an ICMP error quotes it), since the echo id
// is the target's flow's and the same in every process (icmpFlowID).
type identity struct {
	mu      sync.Mutex
	tag     uint32
	icmpSeq uint16
	ipID    uint16
}

func newIdentity() *identity {
	return &identity{tag: rand.Uint32(), icmpSeq: uint16(rand.Uint32()), ipID: uint16(rand.Uint32())}
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

// flowHash is the hash a target's flow n is chosen by: of its address,
// protocol, port and n only, so that the same target gets the same flows
// in every session, round and process, and each flow's packets the same
// branch of a path that balances load (docs/paths.md).
func flowHash(dst netip.Addr, s config.Settings, n int) uint32 {
	h := fnv.New32a()
	b := dst.As16()
	h.Write(b[:])
	h.Write([]byte(s.Protocol))
	var w [8]byte
	binary.BigEndian.PutUint32(w[:4], uint32(s.Port))
	binary.BigEndian.PutUint32(w[4:], uint32(n))
	h.Write(w[:])
	return h.Sum32()
}

// nextProbe builds t's next packet, the only place the Tcl engine's
// packets are made: from t's validated settings, route and next flow, with
// the next identifiers of ids. Every packet of a target, path probes included,
// carries the fields routers balance load by unchanged (addresses,
// protocol, ports; for ICMP the echo id and checksum); they differ in
// fields no router hashes: the IP id (which ICMP errors quote), the TCP
// sequence number, the ICMP sequence number.
func (t *target) nextProbe(ids *identity) packet.Probe {
	seq, ipID := ids.next()
	s := *t.s
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64 // hping3's default
	}
	p := t.flowHeader()
	if t.hopOf != nil && len(t.flows) > 0 {
		t.nextFlow = (t.nextFlow + 1) % len(t.flows)
	}
	p.TTL, p.TOS, p.DontFrag, p.IPID, p.Payload = ttl, s.TOSByte(), s.DontFrag, ipID, t.payload
	switch s.Protocol {
	case config.ICMP:
		p.ICMPSeq = seq
		p.Payload = echoPayload(t.payload, ids.tag, seq)
	case config.TCP:
		p.TCPFlags, p.TCPSeq, p.TCPAck, p.TCPWindow = packet.TCPFlagBits(s.TCPFlags), rand.Uint32(), rand.Uint32(), tcpWindow
	}
	return p
}

// flowHeader is t's next packet as far as its flow goes: addresses,
// protocol, and the ports or echo id of its next flow (target.flow).
func (t *target) flowHeader() packet.Probe {
	_, fl := t.flow()
	p := packet.Probe{Src: t.route.src, Dst: t.ip}
	switch t.s.Protocol {
	case config.ICMP:
		p.Proto, p.ICMPID = packet.ProtoICMP, fl.icmpID
	case config.TCP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoTCP, fl.port, t.s.Port
	case config.UDP:
		p.Proto, p.SrcPort, p.DstPort = packet.ProtoUDP, fl.port, t.s.Port
	}
	return p
}

// echoPayload is an echo request's payload: base (probePayload) with the
// process's tag in its first 4 bytes and, in the next 2, the ones'
// complement of the sum of the tag's words and seq. The echo's checksum
// then sums type, code, id and the rest of the payload only: it is the
// same for every sequence number and every process, as routers that
// balance ICMP by its header's first bytes need to keep a flow on one
// branch.
func echoPayload(base []byte, tag uint32, seq int) []byte {
	b := make([]byte, max(len(base), icmpMarkLen))
	copy(b, base)
	binary.BigEndian.PutUint32(b, tag)
	sum := uint32(tag>>16) + uint32(tag&0xffff) + uint32(seq)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[4:], ^uint16(sum))
	return b
}
