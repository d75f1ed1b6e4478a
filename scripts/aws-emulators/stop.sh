#!/usr/bin/env bash
# Stops the emulators that start.sh started in DIR (default: sluice-data/aws
# in the repository). Data stays in DIR; start.sh DIR starts them on it again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../../sluice-data/aws}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)

for name in s3 kinesis dynamodb; do
	pidf="$dir/$name.pid"
	[ -f "$pidf" ] || continue
	pid=$(cat "$pidf")
	# Only a process that still runs the command start.sh gave it.
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir"; then
		kill -TERM "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			echo "stop.sh: $name (pid $pid) ignored SIGTERM; killed" >&2
		else
			echo "stop.sh: stopped $name (pid $pid)" >&2
		fi
	fi
	rm -f "$pidf"
done
