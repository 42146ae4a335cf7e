#!/bin/sh
# hping3-plugin, before removal. deb: prerm remove; rpm: %preun 0.
# An upgrade (deb: upgrade; rpm: 1) changes nothing.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop hping3-plugin-otlp.service >/dev/null 2>&1 || true
fi
exit 0
