// Package hardening holds cross-cutting tests of the plugin against bad
// input, faults in hping3 and around the plugin, hostile values, running
// without root, and long runs. It has no code of its own: the tests drive
// the built binary and the round runner with stand-in hping3 programs.
package hardening
