#!/bin/sh
# hping3-plugin, after install or upgrade. deb: postinst configure
# [OLD-VERSION]; rpm: %post 1 (install) or 2 (upgrade).
# Creates the system user hping3-plugin-otlp.service runs as. It enables
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

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# An upgrade restarts the service if it is running, on the new binary.
	if [ "$1" = 2 ] || { [ "$1" = configure ] && [ -n "$2" ]; }; then
		systemctl try-restart hping3-plugin-otlp.service >/dev/null 2>&1 || true
	fi
fi
exit 0
