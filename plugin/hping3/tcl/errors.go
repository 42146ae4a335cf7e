package tcl

import (
	"errors"
	"fmt"
	"strings"
)

// SendError explains a send the engine reported as failed, with the fix
// where one is known. binary is the hping3 that ran the engine.
func SendError(binary, msg string) error {
	switch {
	case strings.Contains(msg, "Error opening raw socket"):
		return noPermission(binary)
	case strings.Contains(msg, "Operation not permitted"):
		// The raw socket is open, so the capability is there: the kernel
		// refused the packet itself, which is a local firewall's output rule.
		return errors.New("this host refused to send hping3's packet (sendto: Operation not permitted): a local firewall rule (nftables or iptables output) drops it; allow the probe's traffic to this target")
	}
	return fmt.Errorf("hping3 could not send the probe: %s", strings.TrimPrefix(msg, "Sending packet: "))
}

// ListenError explains a capture the engine could not open. hping3 hides
// pcap's own reason; without CAP_NET_RAW it is always this one.
func ListenError(binary, iface, msg string) error {
	if strings.Contains(msg, "Unable to open the interface") {
		return fmt.Errorf("hping3 has no permission to open raw sockets (capturing on %s: %s): run the plugin as root, or grant the capability with `setcap cap_net_raw+ep %s`", iface, msg, binary)
	}
	return fmt.Errorf("hping3 could not capture on %s: %s", iface, msg)
}

func noPermission(binary string) error {
	return errors.New("hping3 has no permission to open raw sockets: run the plugin as root, or grant the capability with `setcap cap_net_raw+ep " + binary + "`")
}
