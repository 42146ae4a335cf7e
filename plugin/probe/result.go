package probe

import (
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Code is the result_code of a probe, as in Telegraf's inputs.ping.
type Code int

const (
	OK         Code = 0 // the probe ran; loss may still be 100%
	NoSuchHost Code = 1 // the name did not resolve (or is not a valid host name)
	Failed     Code = 2 // the probe could not run: hping3 missing, no permission, crashed, timed out
)

// Port states a TCP or UDP probe can show.
const (
	PortOpen   = "open"   // TCP SYN-ACK, or a UDP reply from the port
	PortClosed = "closed" // TCP RST, or the target's own ICMP port unreachable for UDP
	PortNone   = "none"   // no answer from the port (filtered, or the host is silent)
)

// Result is everything one probe of one target measured.
type Result struct {
	Target   string // as configured
	IP       string // the IPv4 address probed; empty when it did not resolve
	Protocol config.Protocol
	Port     int               // tcp and udp; 0 for icmp
	Tags     map[string]string // the group's constant tags

	Code Code
	Err  error // why Code is not OK, worded for the user with the fix where known

	Transmitted int     // packets hping3 sent
	Received    int     // unique replies from the target, in time, not duplicates
	Loss        float64 // percent, 0..100, from Transmitted and Received
	Duplicates  int     // replies to a sequence number already answered
	ICMPErrors  int     // ICMP errors other than the intended reply (e.g. host unreachable from a router)
	Late        int     // replies after the timeout, counted as lost
	Glitches    int     // replies whose rtt carried hping3's +1000 ms clock glitch; received but not in RTT
	Stamps      Stamps  // the sent packets by the clock that timed them (Tcl engine)

	RTT       *RTT // nil when nothing was received
	TTL       int  // IP TTL of the first valid reply; -1 when none
	PortState string
	DNS       time.Duration // name lookup time; 0 for an IPv4 literal
	Path      *Path         // path = true: what the path probes measured; nil otherwise

	Start    time.Time     // when hping3 started
	Duration time.Duration // how long the probe took, lookup included
	Argv     []string      // the command run, for --debug
	Ran      bool          // an hping3 process was started
}

// RTT holds round-trip statistics in milliseconds.
type RTT struct {
	Min, Avg, Max float64
	// Detail is false when only min/avg/max are known: for UDP hping3
	// prints no per-reply time, only its summary.
	Detail      bool
	StdDev      float64 // population standard deviation
	Jitter      float64 // mean absolute difference of consecutive RTTs
	HasJitter   bool    // at least two RTTs
	Percentiles []Percentile
	Samples     []float64 // the RTTs used, in sequence order
}

// Percentile is one configured RTT percentile.
type Percentile struct {
	P     int
	Value float64
}
