#!/usr/bin/env bash
# Starts local AWS emulators on 127.0.0.1 for sluice's quickstart and manual
# tests: versitygw (S3, POSIX backend), kinesalite (Kinesis) and dynalite
# (DynamoDB). Installs what is missing first:
#   - kinesalite and dynalite: npm ci here, from package-lock.json;
#   - versitygw: go install, into ${XDG_CACHE_HOME:-~/.cache}/sluice/tools/
#     versitygw-<version>/ (a versitygw of that version on PATH is used too;
#     $SLUICE_VERSITYGW names a binary to use instead).
#
# Usage: start.sh [DIR]      (default DIR: sluice-data/aws in the repository)
#   Ports: $S3_PORT, $KINESIS_PORT, $DYNAMODB_PORT (default: those of the
#   last start in DIR, else free ports).
#   Data, logs and pid files go under DIR; the environment for clients is
#   written to DIR/aws.env:   set -a; . DIR/aws.env; set +a
#   Stop with stop.sh [DIR]; data is kept until DIR is removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${1:-$repo/sluice-data/aws}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Keep in step with internal/testing/awstest.
VERSITYGW_VERSION=v1.8.0
ACCESS_KEY=sluicelocal
SECRET_KEY=sluicelocalsecret
REGION=us-east-1

started=() # pids started by this run, stopped again if a later step fails
die() {
	echo "start.sh: $*" >&2
	if [ ${#started[@]} -gt 0 ]; then kill "${started[@]}" 2>/dev/null || true; fi
	exit 1
}

# --- install -----------------------------------------------------------------
# Each install is checked and done under the flock that internal/awstest
# takes too (go test runs several test binaries at once), so neither side
# trusts a node_modules or a binary another process is still writing.
command -v node >/dev/null || die "node not found (Node.js 20 or later is needed)"
command -v flock >/dev/null || die "flock not found (util-linux)"
exec 9>"$here/.npm-install.lock"
flock 9
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.sluice-installed-lock"; then
	echo "start.sh: npm ci in $here" >&2
	(cd "$here" && npm ci --no-audit --no-fund >&2)
	cp "$here/package-lock.json" "$here/node_modules/.sluice-installed-lock.tmp"
	mv -f "$here/node_modules/.sluice-installed-lock.tmp" "$here/node_modules/.sluice-installed-lock"
fi
exec 9>&-

vgw_has_version() { go version -m "$1" 2>/dev/null | grep -q "mod[[:space:]]*github.com/versity/versitygw[[:space:]]*$VERSITYGW_VERSION[[:space:]]"; }
vgw=${SLUICE_VERSITYGW:-}
if [ -z "$vgw" ]; then
	vgw_dir="${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools/versitygw-$VERSITYGW_VERSION"
	vgw=$vgw_dir/versitygw
	mkdir -p "$(dirname "$vgw_dir")"
	exec 8>"$vgw_dir.lock"
	flock 8
	# Binaries are renamed into place whole; the version check also rules
	# out one cut short by an older installer that wrote in place.
	if [ ! -x "$vgw" ] || ! vgw_has_version "$vgw"; then
		onpath=$(command -v versitygw || true)
		if [ -n "$onpath" ] && vgw_has_version "$onpath"; then
			vgw=$onpath
		else
			echo "start.sh: go install versitygw@$VERSITYGW_VERSION into $vgw_dir" >&2
			rm -rf "$vgw_dir".tmp-* # left by a killed install
			tmp=$(mktemp -d "$vgw_dir.tmp-XXXXXX")
			GOBIN=$tmp GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ||
				{ rm -rf "$tmp"; die "go install versitygw@$VERSITYGW_VERSION failed"; }
			mkdir -p "$vgw_dir"
			mv -f "$tmp/versitygw" "$vgw"
			rm -rf "$tmp"
		fi
	fi
	exec 8>&-
fi

# --- start -------------------------------------------------------------------
free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# answers PORT PATH: true once an HTTP server answers on 127.0.0.1:PORT.
answers() {
	node -e 'require("http").get({host:"127.0.0.1",port:+process.argv[1],path:process.argv[2],timeout:1000},r=>process.exit(r.statusCode<500?0:1)).on("error",()=>process.exit(1)).on("timeout",()=>process.exit(1))' "$1" "$2"
}

# launch NAME PORT HEALTHPATH CMD...: starts CMD in its own session, detached,
# and waits until it answers.
launch() {
	local name=$1 port=$2 health=$3
	shift 3
	local pidf="$dir/$name.pid" log="$dir/$name.log"
	if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
		die "$name already runs (pid $(cat "$pidf")); stop.sh $dir first"
	fi
	if answers "$port" /; then
		die "port $port is taken by another server; set another one in the environment"
	fi
	setsid "$@" </dev/null >"$log" 2>&1 &
	local pid=$!
	started+=("$pid")
	echo "$pid" >"$pidf"
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2
			die "$name exited before it answered on port $port (log: $log)"
		fi
		if answers "$port" "$health"; then
			echo "start.sh: $name on 127.0.0.1:$port (pid $pid)" >&2
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "$name did not answer on port $port within 30s (log: $log)"
}

# port VAR ENDPOINTVAR: $VAR, else the port of the last start in DIR (so the
# endpoints stay the same), else a free one.
port() {
	local p=${!1:-}
	[ -n "$p" ] || p=$(sed -n "s|^$2=http://127.0.0.1:||p" "$dir/aws.env" 2>/dev/null || true)
	[ -n "$p" ] || p=$(free_port)
	echo "$p"
}
s3_port=$(port S3_PORT AWS_ENDPOINT_URL_S3)
kinesis_port=$(port KINESIS_PORT AWS_ENDPOINT_URL_KINESIS)
dynamodb_port=$(port DYNAMODB_PORT AWS_ENDPOINT_URL_DYNAMODB)
mkdir -p "$dir/s3" "$dir/kinesis" "$dir/dynamodb"

launch s3 "$s3_port" /health "$vgw" --port "127.0.0.1:$s3_port" \
	--access "$ACCESS_KEY" --secret "$SECRET_KEY" --region "$REGION" \
	--quiet --health /health posix "$dir/s3"
# loopback.js makes every listen bind 127.0.0.1 (kinesalite has no --host).
launch kinesis "$kinesis_port" / node -r "$here/loopback.js" \
	"$here/node_modules/kinesalite/cli.js" --port "$kinesis_port" \
	--path "$dir/kinesis" --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0
launch dynamodb "$dynamodb_port" / node -r "$here/loopback.js" \
	"$here/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$dynamodb_port" \
	--path "$dir/dynamodb" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0

cat >"$dir/aws.env" <<EOF
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$s3_port
AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:$kinesis_port
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dynamodb_port
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
AWS_EC2_METADATA_DISABLED=true
EOF
echo "start.sh: environment in $dir/aws.env (set -a; . $dir/aws.env; set +a)" >&2
