# hping3-plugin's engine script, run as `hping3 exec` by the plugin.
#
# It holds no measurement logic. It sends the packets the plugin writes on
# stdin, stamps each send and each captured packet with the clock, and
# prints raw records. Input lines are data, never evaluated:
#   listen IFACE FILTER   open a capture on IFACE with a BPF filter
#   send ID PACKET        send one packet (hping3's packet text), ID a number
#   sync N                answer "sync N TIME": everything before it is done
# Output lines (TIME in microseconds of the Unix clock):
#   ready TIME
#   listening IFACE | error listen IFACE MESSAGE
#   sent ID TIME    | failed ID TIME MESSAGE  (TIME: just before the send)
#   pkt IFACE TIME PACKET
#   sync N TIME
# The script exits on end of input, on any output error (the plugin is
# gone) and on any error in a handler.

# Records go out in one write per burst of events (when the event loop has
# nothing more to do), not one per line: the plugin wakes once per burst.
fconfigure stdout -buffering full -buffersize 65536 -translation lf
fconfigure stdin -buffering line -blocking 0 -translation lf

proc bgerror {msg} { exit 3 }

proc oneline {s} { return [string map {"\n" " " "\r" " "} $s] }

set flushing 0
proc emit {line} {
    global flushing
    puts $line
    if {!$flushing} {
        set flushing 1
        after idle {set flushing 0; flush stdout}
    }
}

# Read one packet per call: the handler is called again while more are
# queued, so each packet gets its own time, and a recv never collects many
# large packets at once (hping3 overflows a stack buffer doing that).
proc onpacket {ifname} {
    set t [clock microseconds]
    foreach p [hping recv -hexdata $ifname 0 1] {
        emit "pkt $ifname $t $p"
    }
}

# Every whole line read is handled in one call: the plugin writes its
# sends in bursts, and a return to the event loop per line costs a round
# trip through Tcl's notifier thread (two wake-ups and a pselect) per packet.
proc oncommand {} {
    while {[gets stdin line] >= 0} {
        command $line
    }
    if {[eof stdin]} { exit 0 }
}

# A send line is split, not matched with regexp: Tcl's regexp engine
# allocates and frees its state on every match, which cost this process
# about 5 us of CPU per packet with the malloc tunable the plugin sets (23
# us without it), where building and sending the packet takes about 8 us;
# a split and two class checks cost 1 to 2 us. The checks are regexp's: a
# number, then one word of printable characters.
proc command {line} {
    set w [split $line " "]
    if {[lindex $w 0] eq "send" && [llength $w] == 3
        && [string is digit -strict [lindex $w 1]]
        && [string is graph -strict [lindex $w 2]]} {
        lassign $w - id apd
        # Stamped before the send: hping3 builds the packet first (about
        # 0.1 ms), so a time errs long by that, but a pause of this process
        # after the packet left can never make a round trip read short.
        set t [clock microseconds]
        if {[catch {hping send $apd} err]} {
            emit "failed $id $t [oneline $err]"
        } else {
            emit "sent $id $t"
        }
    } elseif {[regexp {^sync ([0-9]+)$} $line -> n]} {
        emit "sync $n [clock microseconds]"
    } elseif {[regexp {^listen (\S+) (.+)$} $line -> ifname filter]} {
        # The filter is set before the first packet is read, and a handler
        # is never cleared (hping3 crashes on the next packet if it is).
        if {[catch {
            hping setfilter $ifname $filter
            hping event $ifname [list onpacket $ifname]
        } err]} {
            emit "error listen $ifname [oneline $err]"
        } else {
            emit "listening $ifname"
        }
    } else {
        exit 4
    }
}

fileevent stdin readable oncommand
puts "ready [clock microseconds]"
flush stdout
vwait forever
