package tcl

import (
	"fmt"
	"strings"

	"github.com/hping3-plugin/hping3-plugin/plugin/hping3"
)

// SendError explains a send the engine reported as failed, with the fix
// where one is known. binary is the hping3 that ran the engine. The CLI
// engine's errors for the same causes are the same values (package hping3).
func SendError(binary, msg string) error {
	switch {
	case strings.Contains(msg, "Error opening raw socket"):
		return &hping3.PermissionError{Binary: binary}
	case strings.Contains(msg, "Operation not permitted"):
		// The raw socket is open, so the capability is there.
		return hping3.ErrFirewall
	}
	return fmt.Errorf("hping3 could not send the probe: %s", strings.TrimPrefix(msg, "Sending packet: "))
}

// ListenError explains a capture the engine could not open. hping3 hides
// pcap's own reason; without CAP_NET_RAW it is always this one.
func ListenError(binary, iface, msg string) error {
	if strings.Contains(msg, "Unable to open the interface") {
		return &hping3.PermissionError{Binary: binary, Detail: "capturing on " + iface + ": " + msg}
	}
	return fmt.Errorf("hping3 could not capture on %s: %s", iface, msg)
}
