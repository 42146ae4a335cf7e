package probe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeResolver answers from a table, so these tests send no DNS query.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		if (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if host == "slow.test" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestResolve(t *testing.T) {
	r := fakeResolver{
		"v4.test":     {netip.MustParseAddr("::1"), netip.MustParseAddr("198.19.0.9")},
		"v6only.test": {netip.MustParseAddr("2001:db8::1")},
	}
	cases := []struct {
		target string
		ip     string
		code   Code
		msg    string
	}{
		{"127.0.0.1", "127.0.0.1", OK, ""},
		{"::ffff:127.0.0.2", "127.0.0.2", OK, ""},
		{"v4.test", "198.19.0.9", OK, ""},
		{"::1", "", Failed, "IPv6 address: hping3 probes IPv4 only"},
		{"v6only.test", "", Failed, "has only IPv6 addresses: hping3 probes IPv4 only"},
		{"missing.test", "", NoSuchHost, "no such host"},
		{"nonexistent.invalid", "", NoSuchHost, ".invalid names never resolve"},
		{"slow.test", "", NoSuchHost, "took longer than dns_timeout 50ms"},
		{"-c", "", NoSuchHost, "begins with '-'"},
		{"--flood", "", NoSuchHost, "begins with '-'"},
		{"localhost; touch /tmp/x", "", NoSuchHost, `character ';' is not allowed`},
		{"$(id)", "", NoSuchHost, `character '$' is not allowed`},
		{"a b", "", NoSuchHost, `character ' ' is not allowed`},
		{strings.Repeat("a", 300), "", NoSuchHost, "300 characters, more than 253"},
		{strings.Repeat("a", 64) + ".test", "", NoSuchHost, "longer than 63"},
		{"a..b", "", NoSuchHost, "empty label"},
	}
	for _, c := range cases {
		res := Resolve(context.Background(), r, c.target, 50*time.Millisecond)
		if res.IP != c.ip || res.Code != c.code || (c.msg == "") != (res.Err == nil) ||
			(res.Err != nil && !strings.Contains(res.Err.Error(), c.msg)) {
			t.Errorf("Resolve(%.20q) = %+v, want ip %q code %d msg %q", c.target, res, c.ip, c.code, c.msg)
		}
		if res.Err != nil && len(res.Err.Error()) > 200 {
			t.Errorf("Resolve(%.20q): message of %d characters", c.target, len(res.Err.Error()))
		}
	}
}
