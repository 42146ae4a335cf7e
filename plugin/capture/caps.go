package capture

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// The plugin's binary holds CAP_NET_RAW as a permitted capability only
// (setcap cap_net_raw=p): a file capability with the effective bit would
// make the kernel refuse to start the binary at all where the capability
// cannot be granted (a container without NET_RAW), instead of the plugin
// starting and saying what it lacks. So the plugin raises the capability
// into its effective set itself, on the one thread that opens a packet
// socket, for that call only, and lowers it again before the thread goes
// back to the Go scheduler: no other thread, and no program the plugin
// starts, ever holds it effective. (The thread is not ended instead: a
// child started from it, hping3, would get its parent-death signal.) Run
// as root, the capability is effective already and this changes nothing.

// packetSocket opens an AF_PACKET socket, raising CAP_NET_RAW for it if it
// is permitted but not effective.
func packetSocket() (int, error) {
	runtime.LockOSThread()
	lower, ok := raiseNetRaw()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if ok {
		// Lowering a capability within the permitted set cannot be
		// refused.
		_ = lower()
	}
	runtime.UnlockOSThread()
	return fd, err
}

// raiseNetRaw adds CAP_NET_RAW to the calling thread's effective set when
// it is in its permitted set and not effective yet; ok says it did, and
// lower takes it away again.
func raiseNetRaw() (lower func() error, ok bool) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, false
	}
	const bit = uint32(1) << unix.CAP_NET_RAW // CAP_NET_RAW is 13: the first word
	if data[0].Permitted&bit == 0 || data[0].Effective&bit != 0 {
		return nil, false
	}
	data[0].Effective |= bit
	if unix.Capset(&hdr, &data[0]) != nil {
		return nil, false
	}
	return func() error {
		data[0].Effective &^= bit
		return unix.Capset(&hdr, &data[0])
	}, true
}
