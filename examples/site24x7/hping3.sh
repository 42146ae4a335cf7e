#!/bin/sh
# Site24x7 plugin launcher for hping3-plugin. The agent runs this file from
# /opt/site24x7/monagent/plugins/hping3/ with the hping3.cfg section as
# arguments (--host=... --plugin_version=... --heartbeat=...). They go to the
# binary unchanged, quoted, never through the shell; the binary prints the
# JSON the agent reads. The binary: the one next to this file, else the
# package's /usr/bin/hping3-plugin (HPING3_PLUGIN, when set, names another).
bin="$(dirname "$0")/hping3-plugin"
[ -x "$bin" ] || bin=${HPING3_PLUGIN:-/usr/bin/hping3-plugin}
if [ -x "$bin" ]; then
	exec "$bin" --site24x7 "$@"
fi
# Without the binary, still tell the agent why, as a Down monitor keyed like
# the binary would key it: the section's plugin_version and heartbeat, and its
# host when it is a plain name (anything else stays out of the JSON).
version=1 heartbeat=true host=
while [ $# -gt 0 ]; do
	key=${1%%=*} val=${1#*=}
	if [ "$key" = "$1" ] && [ $# -gt 1 ]; then val=$2; shift; fi
	val=${val#[\"\']} val=${val%[\"\']}
	case "$key" in
	--plugin_version | --plugin-version) case "$val" in '' | *[!0-9]*) ;; *) version=$val ;; esac ;;
	--heartbeat) case "$val" in [Ff]alse | [Ff] | 0 | [Nn]o | [Nn] | [Oo]ff) heartbeat=false ;; esac ;;
	--host) case "$val" in '' | -* | *[!A-Za-z0-9.-]*) ;; *) host=$val ;; esac ;;
	esac
	shift
done
printf '{%s"plugin_version":%s,"heartbeat_required":%s,"status":0,"msg":"%s"}\n' \
	"${host:+\"host\":\"$host\",}" "$version" "$heartbeat" \
	"hping3-plugin not found next to hping3.sh nor at /usr/bin/hping3-plugin (or HPING3_PLUGIN): install the hping3-plugin package, or copy the binary into /opt/site24x7/monagent/plugins/hping3/ (see the hping3-plugin README, With Site24x7)"
