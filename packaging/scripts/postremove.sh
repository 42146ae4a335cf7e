#!/bin/sh
# hping3-plugin, after removal. deb: postrm remove, then postrm purge on
# apt-get purge; rpm: %postun 0, which is also its purge (rpm keeps an
# edited configuration file as .rpmsave). An upgrade (deb: upgrade; rpm: 1)
# changes nothing.
# Purging forgets whether the service was enabled and deletes the system
# user, which owns no file: the service writes none.
set -e

case "$1" in
remove | purge | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
[ "$1" = remove ] && exit 0

rm -f /etc/systemd/system/multi-user.target.wants/hping3-plugin-otlp.service
if getent passwd hping3-plugin >/dev/null; then
	userdel hping3-plugin || echo "hping3-plugin: could not delete the system user hping3-plugin" >&2
fi
if getent group hping3-plugin >/dev/null; then
	groupdel hping3-plugin || echo "hping3-plugin: could not delete the group hping3-plugin" >&2
fi
exit 0
