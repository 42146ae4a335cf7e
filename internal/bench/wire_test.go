package bench

import (
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestCaptureRTTs: echo requests from the client matched to the replies of
// the same identifier and sequence number, in ms to the nanosecond; a
// request without a reply is NaN and leaves its target uncompared.
func TestCaptureRTTs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c0.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(128, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	write := func(at time.Duration, src, dst string, typ uint8, id, seq uint16) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, ic); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(at), CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
	}
	req, rep := uint8(layers.ICMPv4TypeEchoRequest), uint8(layers.ICMPv4TypeEchoReply)
	write(0, clientAddr, "198.19.0.1", req, 7, 1)
	write(50*time.Microsecond, clientAddr, "198.19.0.2", req, 9, 1)
	write(123456*time.Nanosecond, "198.19.0.1", clientAddr, rep, 7, 1)
	write(time.Millisecond, clientAddr, "198.19.0.1", req, 7, 2)
	write(time.Millisecond+100*time.Microsecond, "198.19.0.1", clientAddr, rep, 7, 2)
	write(2*time.Millisecond, "198.19.0.2", clientAddr, rep, 9, 2) // another sequence: no answer to seq 1
	f.Close()

	rtts, n, err := captureRTTs(file)
	if err != nil || n != 6 {
		t.Fatalf("%d packets, %v", n, err)
	}
	if a := rtts["198.19.0.1"]; len(a) != 2 || a[0] != 0.123456 || a[1] != 0.1 {
		t.Errorf("198.19.0.1: %v, want [0.123456 0.1]", a)
	}
	if b := rtts["198.19.0.2"]; len(b) != 1 || !math.IsNaN(b[0]) {
		t.Errorf("198.19.0.2: %v, want [NaN]", b)
	}
	w2, err := checkWire(file, map[string]lineCounts{"198.19.0.1": {average: 0.1127, averaged: true}, "198.19.0.2": {average: 0.05, averaged: true}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if w2.Targets != 1 || w2.Uncompared != 1 || w2.Worst != "198.19.0.1" || math.Abs(w2.Largest-0.972) > 1e-6 || w2.Captured != 6 || w2.KernelDrops != 3 {
		t.Errorf("check: %+v, want 1 target 0.972 µs apart, 1 uncompared, 6 packets, 3 drops", w2)
	}
}
