// The engine's record protocol: what the script prints on its stdout, one
// record a line, read into Events. The script's side is engine.tcl.

package tcl

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hping3-plugin/hping3-plugin/plugin/packet"
)

// EventKind says what an engine reported.
type EventKind int

const (
	Sent         EventKind = iota + 1 // a send returned: At is its time
	SendFailed                        // a send raised an error: Err says which
	Captured                          // a packet was read: Packet, Iface, At
	Synced                            // the answer to Sync(N): ID is N
	Listening                         // a capture is open on Iface
	ListenFailed                      // a capture could not be opened: Err
)

// Event is one record from the engine.
type Event struct {
	Kind   EventKind
	ID     int // the send's id, or the sync number
	At     time.Time
	Iface  string
	Err    string
	Packet *packet.Captured
}

var errUnparsedPacket = errors.New("unparsed packet")

// parseLine reads one output line; a ready line gives Kind 0.
func parseLine(line string) (Event, error) {
	word, rest, _ := strings.Cut(line, " ")
	var ev Event
	switch word {
	case "ready":
		_, err := stamp(rest)
		return ev, err
	case "pkt":
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 {
			return ev, errors.New("short pkt line")
		}
		at, err := stamp(f[1])
		if err != nil {
			return ev, err
		}
		c, err := Parse(f[2])
		if err != nil {
			return ev, errUnparsedPacket
		}
		return Event{Kind: Captured, Iface: f[0], At: at, Packet: c}, nil
	case "sent", "failed", "sync":
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 2 || (word != "failed" && len(f) != 2) {
			return ev, fmt.Errorf("malformed %s line", word)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil || id < 0 {
			return ev, fmt.Errorf("bad id in %s line", word)
		}
		at, err := stamp(f[1])
		if err != nil {
			return ev, err
		}
		ev = Event{Kind: Sent, ID: id, At: at}
		switch word {
		case "failed":
			ev.Kind = SendFailed
			if len(f) == 3 {
				ev.Err = f[2]
			}
		case "sync":
			ev.Kind = Synced
		}
		return ev, nil
	case "listening":
		if rest == "" {
			return ev, errors.New("listening line without interface")
		}
		return Event{Kind: Listening, Iface: rest}, nil
	case "error":
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 2 || f[0] != "listen" {
			return ev, errors.New("malformed error line")
		}
		ev = Event{Kind: ListenFailed, Iface: f[1]}
		if len(f) == 3 {
			ev.Err = f[2]
		}
		return ev, nil
	}
	return ev, fmt.Errorf("unknown record %.20q", word)
}

// stamp reads the script's clock (microseconds since the Unix epoch).
func stamp(s string) (time.Time, error) {
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}, fmt.Errorf("bad time %.24q", s)
	}
	return time.UnixMicro(us), nil
}

// readLine returns one line without its newline; longer than maxLine is an
// error (not one of the script's records).
func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		if sb.Len()+len(chunk) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		sb.Write(chunk)
		if !isPrefix {
			return sb.String(), nil
		}
	}
}
