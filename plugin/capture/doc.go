// Package capture reads the Tcl engine's probes and their answers with the
// kernel's timestamps: one AF_PACKET socket per interface the probes leave
// by, a memory-mapped TPACKET_V3 ring that hands packets over a block at a
// time, and a classic BPF filter so that only the plugin's own probes and
// what can answer them reach user space.
//
// The kernel stamps a packet once, where the packet taps see it: a probe as
// it leaves the interface, an answer as the interface delivers it (the
// sockets ask for timestamps, which turns that stamping on: Ring.setup). Both are
// read here at the same interface, so their difference is the round trip
// on the wire, without the delay of waking any process. hping3 still builds
// and sends every probe; these sockets only read (nothing is ever written
// to them).
package capture
