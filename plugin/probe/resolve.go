package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/config"
)

// Resolution is the outcome of turning a configured target into the IPv4
// literal hping3 is given.
type Resolution struct {
	IP   string
	DNS  time.Duration // 0 for a literal
	Code Code          // OK, NoSuchHost or Failed
	Err  error
}

// Resolver looks names up; net.DefaultResolver in production.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Literal is Resolve's answer for a target that is an address literal,
// which needs no lookup; ok is false for a name.
func Literal(target string) (res Resolution, ok bool) {
	addr, err := netip.ParseAddr(target)
	if err != nil {
		return Resolution{}, false
	}
	if addr = addr.Unmap(); !addr.Is4() {
		return Resolution{Code: Failed, Err: fmt.Errorf("%q is an IPv6 address: hping3 probes IPv4 only; give an IPv4 address or a name with an A record", target)}, true
	}
	return Resolution{IP: addr.String()}, true
}

// Resolve checks target and resolves it to one IPv4 address within timeout.
// The plugin resolves names itself so that hping3 only ever sees a literal
// (it would resolve without a time limit, and only through gethostbyname).
func Resolve(ctx context.Context, r Resolver, target string, timeout time.Duration) Resolution {
	if res, ok := Literal(target); ok {
		return res
	}
	if reason := checkHostName(target); reason != "" {
		return Resolution{Code: NoSuchHost, Err: fmt.Errorf("%.80q is not a valid host name (%s); nothing was sent", target, reason)}
	}
	if isReservedInvalid(target) {
		// RFC 6761: names under .invalid never resolve, and resolver
		// APIs should say so at once instead of asking a server.
		return Resolution{Code: NoSuchHost, Err: fmt.Errorf("%q did not resolve: no such host (.invalid names never resolve)", target)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	addrs, err := r.LookupNetIP(ctx, "ip4", target)
	took := time.Since(start)
	if err == nil {
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				return Resolution{IP: a.String(), DNS: took}
			}
		}
	}
	var dnsErr *net.DNSError
	// Go's resolver answers an "ip4" lookup of a name that has only IPv6
	// addresses (in /etc/hosts, say) with an AddrError, "no suitable
	// address", rather than a not-found DNSError.
	var addrErr *net.AddrError
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Resolution{DNS: took, Code: NoSuchHost, Err: fmt.Errorf("resolving %q took longer than dns_timeout %v", target, timeout)}
	case err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) || errors.As(err, &addrErr):
		// No A record: say so plainly when the name is IPv6-only.
		if v6, err6 := r.LookupNetIP(ctx, "ip6", target); err6 == nil && len(v6) > 0 {
			return Resolution{DNS: took, Code: Failed, Err: fmt.Errorf("%q has only IPv6 addresses: hping3 probes IPv4 only", target)}
		}
		return Resolution{DNS: took, Code: NoSuchHost, Err: fmt.Errorf("%q did not resolve: no such host", target)}
	default:
		return Resolution{DNS: took, Code: NoSuchHost, Err: fmt.Errorf("resolving %q: %v", target, err)}
	}
}

// checkHostName returns why name cannot be a DNS host name, or "". It keeps
// option-like, shell-like and oversized strings away from every resolver.
func checkHostName(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > config.MaxTargetLength:
		return fmt.Sprintf("%d characters, more than %d", len(name), config.MaxTargetLength)
	case name[0] == '-':
		return "begins with '-'"
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "empty label"
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Sprintf("character %q is not allowed", c)
		}
		label++
		if label > 63 {
			return "a label is longer than 63 characters"
		}
	}
	return ""
}

func isReservedInvalid(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return name == "invalid" || strings.HasSuffix(name, ".invalid")
}

var _ Resolver = net.DefaultResolver
