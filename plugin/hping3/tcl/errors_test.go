package tcl

import (
	"errors"
	"testing"

	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// The Tcl engine's failures read as the CLI engine's for the same cause.
func TestSendAndListenErrors(t *testing.T) {
	const bin = "/usr/sbin/hping3"
	cases := []struct {
		err  error
		want string
	}{
		{SendError(bin, "Error opening raw socket: Operation not permitted"),
			"hping3 has no permission to open raw sockets: run the plugin as root, or grant the capability with `setcap cap_net_raw+ep /usr/sbin/hping3`"},
		{SendError(bin, "Sending packet: Operation not permitted"),
			"this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule (nftables or iptables output) drops it; allow the probe's traffic to this target"},
		{SendError(bin, "Sending packet: Message too long"), "hping3 could not send the probe: Message too long"},
		{ListenError(bin, "eth0", "Unable to open the interface"),
			"hping3 has no permission to open raw sockets (capturing on eth0: Unable to open the interface): run the plugin as root, or grant the capability with `setcap cap_net_raw+ep /usr/sbin/hping3`"},
		{ListenError(bin, "eth0", "no such device"), "hping3 could not capture on eth0: no such device"},
	}
	for _, c := range cases {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("got  %v\nwant %s", c.err, c.want)
		}
	}
	var perm *hping3.PermissionError
	if !errors.As(cases[0].err, &perm) || !errors.Is(cases[1].err, hping3.ErrFirewall) {
		t.Errorf("types: %#v, %#v", cases[0].err, cases[1].err)
	}
}
