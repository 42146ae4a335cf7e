// Package packet describes IPv4 probe packets and captured packets as plain
// values, and decides which probe a captured packet answers. It knows no
// hping3: the Tcl engine turns these values into hping3's packet text and
// back, and the core matches and measures with them.
package packet
