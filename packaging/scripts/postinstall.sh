#!/bin/sh
# hping3-plugin, after install or upgrade. deb: postinst configure
# [OLD-VERSION]; rpm: %post 1 (install) or 2 (upgrade).
# Creates the system user hping3-plugin-otlp.service runs as, and gives the
# plugin's binary its own file capability cap_net_raw+ep: it reads its
# probes and their answers with the kernel's timestamps from a packet
# socket (it never sends through it; hping3 sends). It never raises the
# ambient set, so the capability reaches no program it starts. It enables
# no service and gives hping3 no file capability.
set -e

case "$1" in
configure | 1 | 2) ;;
*) exit 0 ;;
esac

if ! getent passwd hping3-plugin >/dev/null; then
	if getent group hping3-plugin >/dev/null; then
		useradd --system --gid hping3-plugin --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "hping3-plugin service" hping3-plugin
	else
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "hping3-plugin service" hping3-plugin
	fi
fi

# An install or an upgrade writes a new binary, without the capability.
if command -v setcap >/dev/null 2>&1; then
	setcap cap_net_raw+ep /usr/bin/hping3-plugin ||
		echo "hping3-plugin: setcap cap_net_raw+ep /usr/bin/hping3-plugin failed: hping3 will time the answers (about 1 ms late)" >&2
else
	echo "hping3-plugin: no setcap here (Debian: libcap2-bin; Fedora: libcap): run setcap cap_net_raw+ep /usr/bin/hping3-plugin for kernel timestamps" >&2
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# An upgrade restarts the service if it is running, on the new binary.
	if [ "$1" = 2 ] || { [ "$1" = configure ] && [ -n "$2" ]; }; then
		systemctl try-restart hping3-plugin-otlp.service >/dev/null 2>&1 || true
	fi
fi
exit 0
