// Package core probes a configuration's targets and hands the front ends
// reports; it never knows which front end reads them, and the front ends
// never see hping3.
//
// The contract, all a front end uses:
//
//   - New(cfg, log) returns a Runner: Run probes every target once (count
//     packets each) and returns the round's Report. --once and --site24x7
//     run one round; a Runner is the Source of mode rounds too.
//   - NewSource(cfg, log) returns the Source of the long-running front
//     ends: a Stream in mode continuous (the default), which probes all the
//     time and whose Next returns the window of packets decided since the
//     previous report, or a Runner in mode rounds (and in continuous mode
//     when a group cannot run the Tcl engine, with a W!). Next, Targets,
//     Close, Continuous; each is a Reloader: Reload takes a new
//     configuration of the same mode whole, or refuses it with the reason.
//   - A Report holds one probe.Result per job (target of a group) in
//     configuration order, with the packets, failures, restarts and capture
//     drops of the round or window. A failed probe is a Result whose Code
//     says so, never a missing line.
//   - Poll is the schedule of reports every poll_interval, shared by the
//     polling front ends; OneProcessor is the Go scheduler setting the
//     binary takes first.
//
// Inside, a setup (setup.go) is one configuration made ready: its jobs,
// each group's engine (engines.go), the failure memory (failures.go), and
// what the process shares across configurations (how engine processes
// start, the plugin's own captures, its probes' identifiers, the
// resolver). The Runner (runner.go) and the Stream (stream.go) each hold
// one. The CLI engine runs one hping3 per target (cli.go, package probe).
// The Tcl engine runs sessions (session.go): one hping3 exec process and
// the packets it sends for a list of targets (target.go), paced
// (pacing.go), matched to their answers (flights.go) and stamped by the
// kernel (wire.go). A round and continuous probing differ only in their
// schedule: a round's (rounds.go) sends count packets per target and
// ends; the steady one (lane.go) sends one packet per target every period,
// in sessions one after another per hping3 binary (a lane).
//
// Words: a round is a report's probing in mode rounds; a window is the
// span a continuous report covers; a session is one engine process's life;
// the engine is how a group's targets are probed (tcl or cli), its process
// the hping3 that runs; a clock is what timed a packet (probe.Clock).
package core
