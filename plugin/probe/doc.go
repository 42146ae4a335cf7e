// Package probe measures one target. It resolves the name (Resolve), runs
// the CLI engine once per target (Run: package hping3 runs the process and
// classifies its failures), and turns what an engine saw into a Result:
// loss, duplicates, late replies, ICMP errors, RTT statistics and
// percentiles, TTL and port state. Measure holds the rules both engines
// share, over one Record per packet sent. It reads the engines' records and
// typed errors, never hping3's text; front ends read Results.
package probe
