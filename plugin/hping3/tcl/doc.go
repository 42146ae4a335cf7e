// Package tcl is the Tcl engine: it runs hping3's own Tcl interpreter
// (`hping3 exec`) as one process for every target of a round. An embedded
// script sends the packets the plugin builds and reports each send and each
// captured packet, stamped with the clock. This package turns packets into
// hping3's packet text and that text back into packet values, and turns the
// engine's failure messages into the errors of package hping3; it measures
// nothing.
package tcl
