package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// The ring: blocks of 64 KiB, each handed to user space when full or a
// wait (Open's) after its first packet. 32 blocks hold 2 MiB, about 8,000
// packets at the filter's snap length, far more than the plugin's rate
// cap sends in the time one block waits.
const (
	blockSize  = 1 << 16
	blockCount = 32
	frameSize  = 1 << 11
)

// Byte offsets in the ring (linux/if_packet.h).
const (
	blockStatus     = 8  // tpacket_block_desc.hdr.bh1.block_status
	blockPackets    = 12 // num_pkts
	blockFirst      = 16 // offset_to_first_pkt
	hdrNext         = 0  // tpacket3_hdr.tp_next_offset
	hdrSec          = 4
	hdrNsec         = 8
	hdrSnaplen      = 12
	hdrNet          = 26 // tp_net
	sllOffset       = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	sllProtocol     = sllOffset + 2
	sllPkttype      = sllOffset + 10
	ethernetTypeIP4 = 0x0800
)

// Frame is one packet the ring handed over.
type Frame struct {
	At       time.Time // the kernel's stamp
	Outgoing bool      // it left by the interface (a probe), else it arrived
	// Loopback: read on a loopback interface, where every packet passes
	// twice, leaving and arriving, and is stamped again as it arrives.
	Loopback bool
	Packet   *packet.Captured
}

// Ring is one interface's capture.
type Ring struct {
	Iface    string
	loopback bool
	fd       int
	// file holds fd in Go's network poller: Read waits for a block
	// there, not in a blocking poll(2), which would make the runtime
	// hand its processor to another thread at every wait.
	file *os.File
	raw  syscall.RawConn
	mem  []byte

	mu      sync.Mutex // guards fd against Close while Stats reads it
	closing bool       // Close was called: Read ends
	closed  bool       // Release was called: fd and mem are gone
	drops   atomic.Uint64
	seen    atomic.Uint64
	bad     atomic.Uint64
}

// ErrPermission is returned by Open when the process may not open packet
// sockets: it lacks CAP_NET_RAW.
var ErrPermission = errors.New("opening a packet socket needs CAP_NET_RAW")

// Open opens a capture on iface that keeps what f lets through, handing
// packets over a block at a time, at the latest wait (whole milliseconds,
// at least 1) after a block's first packet. Nothing is queued before the
// filter is attached: the socket is bound to the interface and to every
// protocol only once filter and ring are in place.
func Open(iface string, f Filter, wait time.Duration) (*Ring, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	prog, err := f.Program()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("capture filter: %w", err)
	}
	fd, err := packetSocket()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("capture on %s: packet socket: %w", iface, err)
	}
	r := &Ring{Iface: iface, fd: fd, loopback: ifi.Flags&net.FlagLoopback != 0}
	if err := r.setup(ifi.Index, raw, uint32(max(wait/time.Millisecond, 1))); err != nil {
		r.release()
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	return r, nil
}

func (r *Ring) setup(ifindex int, raw []bpf.RawInstruction, waitMs uint32) error {
	ins := make([]unix.SockFilter, len(raw))
	for i, x := range raw {
		ins[i] = unix.SockFilter{Code: x.Op, Jt: x.Jt, Jf: x.Jf, K: x.K}
	}
	if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}); err != nil {
		return fmt.Errorf("attaching the filter: %w", err)
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("TPACKET_V3: %w", err)
	}
	// A packet socket asking for timestamps turns on the kernel's
	// stamping of every packet where the taps see it (net_timestamp_set,
	// netif_receive_skb), once. Without any such socket on the host the
	// stamp is 0 there, and each packet socket reads the clock when the
	// packet reaches it: the plugin's stamp would then be its own, later
	// than the wire's by however long the delivery to other taps
	// (tcpdump) took first, tens of microseconds on a busy machine.
	if err := unix.SetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("timestamps: %w", err)
	}
	req := unix.TpacketReq3{Block_size: blockSize, Block_nr: blockCount, Frame_size: frameSize,
		Frame_nr: blockSize / frameSize * blockCount, Retire_blk_tov: waitMs}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	mem, err := unix.Mmap(r.fd, 0, blockSize*blockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping the ring: %w", err)
	}
	r.mem = mem
	if err := unix.SetNonblock(r.fd, true); err != nil {
		return err
	}
	r.file = os.NewFile(uintptr(r.fd), "packet socket on "+r.Iface)
	if r.raw, err = r.file.SyscallConn(); err != nil {
		return err
	}
	proto := int(htons(unix.ETH_P_ALL))
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}); err != nil {
		return fmt.Errorf("binding: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Read hands every packet the ring receives to deliver, one call per block
// (the frames of one wake-up), until Close; it returns nil then, or the
// error that ended the capture (the interface went away). Packets that do
// not decode are counted (Stats) and dropped. deliver owns the frames.
func (r *Ring) Read(deliver func([]Frame)) error {
	for b := 0; ; {
		off := b * blockSize
		status := (*uint32)(unsafe.Pointer(&r.mem[off+blockStatus]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			var ended error
			err := r.raw.Read(func(fd uintptr) bool {
				if atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0 {
					return true
				}
				// The interface went down or away: the kernel reports it
				// as the socket's error.
				if e, gerr := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && e != 0 {
					ended = unix.Errno(e)
					return true
				}
				return false
			})
			switch {
			case err != nil && r.isClosed():
				return nil
			case err != nil:
				return fmt.Errorf("capture on %s: %w", r.Iface, err)
			case ended != nil:
				return fmt.Errorf("capture on %s ended: %w", r.Iface, ended)
			}
			continue
		}
		if frames := r.block(r.mem[off : off+blockSize]); len(frames) > 0 {
			deliver(frames)
		}
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		b = (b + 1) % blockCount
	}
}

func (r *Ring) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

// block reads the frames of one block, copying them out of the ring.
func (r *Ring) block(blk []byte) []Frame {
	le := binary.NativeEndian // the ring is in host order
	n := int(le.Uint32(blk[blockPackets:]))
	frames := make([]Frame, 0, n)
	at := int(le.Uint32(blk[blockFirst:]))
	for i := 0; i < n && at > 0 && at+sllOffset+20 <= len(blk); i++ {
		h := blk[at:]
		r.seen.Add(1)
		net, snap := int(le.Uint16(h[hdrNet:])), int(le.Uint32(h[hdrSnaplen:]))
		if binary.BigEndian.Uint16(h[sllProtocol:]) == ethernetTypeIP4 && net+snap <= len(h) {
			data := append([]byte(nil), h[net:net+snap]...)
			if c, err := Decode(data); err == nil {
				frames = append(frames, Frame{
					At:       time.Unix(int64(le.Uint32(h[hdrSec:])), int64(le.Uint32(h[hdrNsec:]))),
					Outgoing: h[sllPkttype] == unix.PACKET_OUTGOING,
					Loopback: r.loopback,
					Packet:   c,
				})
			} else {
				r.bad.Add(1)
			}
		}
		next := int(le.Uint32(h[hdrNext:]))
		if next == 0 {
			break
		}
		at += next
	}
	return frames
}

// Stats is what a capture counted since it opened.
type Stats struct {
	Seen       uint64 // packets the filter kept and the ring handed over
	Drops      uint64 // packets the kernel dropped: the ring was full
	Unreadable uint64 // kept packets that did not decode
}

// Stats reads the kernel's drop counter (PACKET_STATISTICS, which the
// kernel resets on every read: the ring sums it) and the ring's own counts.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	if !r.closing && !r.closed {
		r.readDrops()
	}
	r.mu.Unlock()
	return Stats{Seen: r.seen.Load(), Drops: r.drops.Load(), Unreadable: r.bad.Load()}
}

// readDrops adds the kernel's drop counter, which it resets on every read;
// r.mu is held.
func (r *Ring) readDrops() {
	if st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		r.drops.Add(uint64(st.Drops))
	}
}

// Close ends Read, from any goroutine; Release then frees the ring once
// Read has returned.
func (r *Ring) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.file == nil {
		return
	}
	r.readDrops() // the last count: Stats reads no socket after this
	r.closing = true
	r.file.Close() // wakes Read; the descriptor closes once it has returned
}

// Release frees the ring's socket and memory; Read must have returned (or
// never been called).
func (r *Ring) Release() { r.release() }

func (r *Ring) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.file != nil {
		if !r.closing {
			r.file.Close()
		}
	} else {
		unix.Close(r.fd)
	}
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}
