#!/usr/bin/env bash
# Quickstart: a local MariaDB with row-based binlogs, a demo table, and sluice
# streaming it into ./sluice-data/events.jsonl with a file checkpoint — the
# embedded defaults. Everything lives under ./sluice-data; nothing touches a
# MariaDB you already run (the demo server listens on 127.0.0.1:${PORT}).
#
#   scripts/quickstart.sh                       # stream until Ctrl-C
#   scripts/quickstart.sh --exit-when-caught-up # stream what is there, then stop
#   scripts/quickstart.sh lake [--exit-when-caught-up]
#                                               # the whole lake path (below)
#   scripts/quickstart.sh stop                  # stop the demo server (and emulators)
#
# lake: the S3 and DynamoDB emulators (scripts/aws-emulators), an initial
# snapshot and the binlog of shop.orders into s3://lake/cdc with the
# checkpoint in DynamoDB, writes and an ALTER, `sluice compact` into an
# Iceberg table, its rows read back next to SELECT * of the source, and
# `sluice verify`; then it streams until Ctrl-C (or stops, with
# --exit-when-caught-up).
#
# Environment: PORT (MariaDB, default 13306), QUICKSTART_DIR (default
# ./sluice-data), QUICKSTART_SLUICE (a sluice binary built with -tags lake
# to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=${QUICKSTART_DIR:-$root/sluice-data}
db=$data/mariadb
PORT=${PORT:-13306}
sock=$db/mysqld.sock
client() { mariadb --protocol=socket -S "$sock" -uroot "$@"; }
export QUICKSTART_DIR=$data PORT

if [ "${1:-}" = stop ]; then
	if [ -f "$db/mysqld.pid" ] && kill "$(cat "$db/mysqld.pid")" 2>/dev/null; then
		for _ in $(seq 100); do [ -f "$db/mysqld.pid" ] || break; sleep 0.1; done
		echo "demo MariaDB stopped"
	fi
	[ -d "$data/aws" ] && "$root/scripts/aws-emulators/stop.sh" "$data/aws"
	exit 0
fi
mode=file
if [ "${1:-}" = lake ]; then
	mode=lake
	shift
fi

if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
	echo "installing mariadb-server (the system service is not started)..."
	export DEBIAN_FRONTEND=noninteractive
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

mkdir -p "$data"
if [ ! -d "$db/mysql" ]; then
	echo "initialising a demo MariaDB in $db..."
	mkdir -p "$db"
	mariadb-install-db --no-defaults --auth-root-authentication-method=normal --skip-test-db \
		--datadir="$db" --user="$(id -un)" >"$data/install.log" 2>&1
fi
if ! client -e 'SELECT 1' >/dev/null 2>&1; then
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		echo "port $PORT is taken by another server; run with PORT=<free port> $0" >&2
		exit 1
	fi
	echo "starting the demo MariaDB on 127.0.0.1:$PORT (binlog_format=ROW, binlog_row_image=FULL, binlog_row_metadata=FULL)..."
	"$mariadbd" --no-defaults --datadir="$db" --socket="$sock" --port="$PORT" --bind-address=127.0.0.1 \
		--pid-file="$db/mysqld.pid" --log-error="$db/error.log" --tmpdir="$db" --user="$(id -un)" \
		--log-bin="$db/mysql-bin" --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
		--server-id=1 --skip-name-resolve --default-time-zone=+00:00 --character-set-server=utf8mb4 &
	for _ in $(seq 100); do client -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
	client -e 'SELECT 1' >/dev/null || { echo "MariaDB did not start; see $db/error.log"; exit 1; }
fi

if [ "$mode" = lake ]; then
	exec "$root/scripts/quickstart-lake.sh" "$@"
fi

cat >"$data/quickstart.yaml" <<YAML
# sluice configuration for the quickstart: every key not given keeps its
# default (checkpoint in ./sluice-data, events in ./sluice-data/events.jsonl).
source:
  host: 127.0.0.1
  port: $PORT
  user: root
  password: ""
start: earliest
YAML

echo "creating demo data (database shop)..."
client <<'SQL'
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (
  id INT AUTO_INCREMENT PRIMARY KEY,
  customer VARCHAR(64) NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);
INSERT INTO shop.orders (customer, total) VALUES ('ann', 19.99), ('bob', 5.00);
UPDATE shop.orders SET status = 'paid' WHERE customer = 'ann';
SQL

go build -o "$data/sluice" ./cmd/sluice
echo "running: sluice run --config $data/quickstart.yaml $*"
echo "(insert into shop.orders with: mariadb -S $sock -uroot)"
"$data/sluice" run --config "$data/quickstart.yaml" "$@"
echo
echo "last events in $data/events.jsonl:"
tail -n 3 "$data/events.jsonl"
"$data/sluice" checkpoint show --config "$data/quickstart.yaml"
