package hping3

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// tcpFlagOptions maps the TCP flags the plugin allows to hping3's options.
var tcpFlagOptions = map[rune]string{'S': "-S", 'A': "-A", 'F': "-F", 'R': "-R", 'P': "-P", 'U': "-U"}

// Args builds hping3's arguments (without the program name) for one probe of
// ip with validated settings s, using source ports basePort..basePort+count-1.
//
// Every value comes from a checked number or from the fixed tables above;
// the one free-form value, the target, must be an IPv4 literal the plugin
// resolved itself, and it follows "--", so nothing can be read as an option.
// No flood, spoofing or listening option can be produced.
func Args(s config.Settings, ip string, basePort int) ([]string, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is4() || addr.String() != ip {
		return nil, fmt.Errorf("hping3 target %q is not an IPv4 literal", ip)
	}
	if err := s.Validate(""); err != nil {
		return nil, err
	}
	if why := s.CLIRefuses(); why != "" {
		return nil, fmt.Errorf("the cli engine cannot probe %s: %s", ip, why)
	}
	if basePort < 1 || basePort+s.Count-1 > 65535 {
		return nil, fmt.Errorf("source ports %d..%d out of range", basePort, basePort+s.Count-1)
	}
	// -n: no reverse lookups, which would write into the reply lines.
	// -c: always bounded. -i: see intervalArg.
	args := []string{"-n", "-c", strconv.Itoa(s.Count), "-i", intervalArg(s.Interval)}
	switch s.Protocol {
	case config.ICMP:
		args = append(args, "-1")
	case config.UDP:
		args = append(args, "-2", "-p", strconv.Itoa(s.Port))
	case config.TCP:
		args = append(args, "-p", strconv.Itoa(s.Port))
		for _, f := range s.TCPFlags {
			args = append(args, tcpFlagOptions[f])
		}
	}
	// A base source port of its own keeps concurrent instances from
	// matching each other's replies (hping3 seeds its own from time()).
	args = append(args, "-s", strconv.Itoa(basePort))
	if s.DataSize > 0 {
		args = append(args, "-d", strconv.Itoa(s.DataSize))
	}
	if s.TTL > 0 {
		args = append(args, "-t", strconv.Itoa(s.TTL))
	}
	if tos := s.TOSByte(); tos > 0 {
		args = append(args, "-o", strconv.FormatInt(int64(tos), 16)) // hping3 reads -o as hex
	}
	if s.DontFrag {
		args = append(args, "-y")
	}
	if s.Source != "" {
		// hping3's -a, validated to be an address of this host
		// (config.checkSource): never another host's.
		args = append(args, "-a", s.Source)
	}
	if s.Interface != "" {
		args = append(args, "-I", s.Interface)
	}
	return append(args, "--", ip), nil
}

// intervalArg renders the interval the way hping3 reads it correctly:
// microseconds ("u200000") below one second, whole seconds from one second
// up. hping3 hangs on "u1000000" and above.
func intervalArg(d time.Duration) string {
	if d < time.Second {
		return "u" + strconv.FormatInt(d.Microseconds(), 10)
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}
