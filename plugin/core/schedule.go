package core

import "time"

// The contract between the session (session.go), which sends, matches and
// decides packets the same way in both modes, and the two schedules that
// say when: a round's (rounds.go) and continuous mode's (lane.go).

// schedule is what differs between a round and continuous probing: when
// each target's packets go, at what rate, and the policy by which the
// session decides them and ends. The session does everything else the
// same way in both modes.
type schedule interface {
	// pace is the pacer of a session's sends: the schedule's share of
	// max_packet_rate, and how far ahead of their slots packets may go.
	pace() pacer
	// policy is how the session decides packets and ends.
	policy() policy
	// begin sets the due time of every target's first packet, the
	// session's sending starting at now.
	begin(targets []*target, now time.Time)
	// next moves t past its packet that went out at slot (written at now)
	// or, with sent false, past one not sent because t's path ends below
	// its TTL (target.beyondPath). It returns false when t has no packet
	// left in this session.
	next(t *target, slot, now time.Time, sent bool) bool
	// packets says what t sends, for the debug log.
	packets(t *target) string
}

// policy is how a schedule's session decides its packets and ends.
type policy struct {
	// finite: the schedule sends a last packet (a round). The session
	// ends once it is sent and every packet decided; packets stay open
	// until then, so that a reply after the timeout is counted late while
	// the round lasts, and a packet answered in time holds it up no
	// longer; a capture that ends fails the targets probed through it.
	// Otherwise (continuous mode) each packet closes at its deadline with
	// every answer it had by then, the session ends only once told to
	// drain, and a capture that ends drains it.
	finite bool
	// ending names the session's end in the message of an engine process
	// that does not answer its sync.
	ending string
}
