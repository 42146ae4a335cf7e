#!/bin/sh
# Site24x7 plugin launcher for hping3-plugin. The agent runs this file from
# /opt/site24x7/monagent/plugins/hping3/ with the hping3.cfg section as
# arguments (--host=... --plugin_version=... --heartbeat=...). They go to the
# binary unchanged, quoted, never through the shell; the binary prints the
# JSON the agent reads.
bin="$(dirname "$0")/hping3-plugin"
if [ -x "$bin" ]; then
	exec "$bin" --site24x7 "$@"
fi
# Without the binary, still tell the agent why, as a Down monitor.
echo '{"plugin_version":1,"heartbeat_required":true,"status":0,"msg":"hping3-plugin not found next to hping3.sh: copy the binary into /opt/site24x7/monagent/plugins/hping3/ (see the hping3-plugin README, With Site24x7)"}'
