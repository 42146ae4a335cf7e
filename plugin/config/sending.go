package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The settings that change what the probes carry besides their target:
// the IP type of service (tos, or dscp by name) and the source address.
// Two tables that differ in them probe different things (a traffic class,
// a source), so a table that sets one gets a tag of the same name on every
// line; a table that sets none keeps its series as they were.
const (
	TOSTag    = "tos"
	DSCPTag   = "dscp"
	SourceTag = "source_address"
)

// dscpNames are the DSCP class names of RFC 2474 (DF, CSn), RFC 2597
// (AFxy), RFC 3246 (EF), RFC 5865 (VOICE-ADMIT) and RFC 8622 (LE).
var dscpNames = map[string]int{
	"DF": 0, "CS0": 0, "CS1": 8, "CS2": 16, "CS3": 24, "CS4": 32, "CS5": 40, "CS6": 48, "CS7": 56,
	"AF11": 10, "AF12": 12, "AF13": 14, "AF21": 18, "AF22": 20, "AF23": 22,
	"AF31": 26, "AF32": 28, "AF33": 30, "AF41": 34, "AF42": 36, "AF43": 38,
	"EF": 46, "VOICE-ADMIT": 44, "LE": 1,
}

// dscpAllowed is what dscp accepts, for errors and the docs.
const dscpAllowed = "a class name (DF, CS0..CS7, AF11..AF43, EF, VOICE-ADMIT, LE; any case) or 0..63; not with tos"

// dscpValue returns the DSCP code point of a dscp setting, or -1.
func dscpValue(s string) int {
	if v, ok := dscpNames[strings.ToUpper(s)]; ok {
		return v
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 63 && strconv.Itoa(n) == s {
		return n
	}
	return -1
}

// dscpName is the tag value of code point v: its class name (CS0 is
// DF), else the number, so that one class is one series however it was
// written.
func dscpName(v int) string {
	best := ""
	for name, n := range dscpNames {
		if n == v && name != "CS0" && (best == "" || name < best) {
			best = name
		}
	}
	if best == "" {
		return strconv.Itoa(v)
	}
	return best
}

// TOSByte is the IP type-of-service byte the probes carry: tos, or dscp
// shifted into its upper six bits (the ECN bits stay 0).
func (s Settings) TOSByte() int {
	if v := dscpValue(s.DSCP); s.DSCP != "" && v >= 0 {
		return v << 2
	}
	return s.TOS
}

// SettingTags returns the tags s gives its group's lines: tos when it is
// set (not 0), dscp when it is set, source_address when it is set.
func (s Settings) SettingTags() map[string]string {
	var tags map[string]string
	add := func(k, v string) {
		if tags == nil {
			tags = map[string]string{}
		}
		tags[k] = v
	}
	if s.TOS != 0 {
		add(TOSTag, strconv.Itoa(s.TOS))
	}
	if v := dscpValue(s.DSCP); s.DSCP != "" && v >= 0 {
		add(DSCPTag, dscpName(v))
	}
	if s.Source != "" {
		add(SourceTag, s.Source)
	}
	return tags
}

// checkSource returns "" when a is an IPv4 address of this host, else why
// not. A foreign source would make the plugin a spoofing tool, and its
// answers would never come back.
func checkSource(a string) string {
	ip, err := netip.ParseAddr(a)
	if err != nil || !ip.Is4() || ip.String() != a {
		return "an IPv4 address literal of this host (e.g. \"192.0.2.10\")"
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "an IPv4 address of this host, which cannot be read: " + err.Error()
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if h, ok := netip.AddrFromSlice(n.IP); ok && h.Unmap() == ip {
				return ""
			}
		}
	}
	return "an IPv4 address of this host: no interface holds it (never another host's: the plugin does not spoof)"
}

// CLIRefuses returns why the CLI engine (one hping3 per target) cannot
// probe with s, or "": a timeout over 1s (hping3 stops listening 1s after
// its last packet), or a payload over 1472 bytes (the plugin checks a
// Tcl-engine probe against its interface's MTU, hping3 does not).
func (s Settings) CLIRefuses() string {
	switch {
	case s.Timeout > MaxCLITimeout:
		return "a timeout over " + MaxCLITimeout.String() + " needs the tcl engine (the CLI hping3 stops listening 1s after its last packet)"
	case s.DataSize > MaxCLIDataSize:
		return "a data_size over " + strconv.Itoa(MaxCLIDataSize) + " needs the tcl engine"
	}
	return ""
}
