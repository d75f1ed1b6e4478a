#!/usr/bin/env bash
# The lake half of `scripts/quickstart.sh lake` (run it through that script,
# which starts the demo MariaDB first): S3 and DynamoDB emulators, sluice
# into the lake with the DynamoDB checkpoint, writes and an ALTER, compaction
# into Iceberg, the table read back next to the source, verify.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=${QUICKSTART_DIR:?run scripts/quickstart.sh lake}
PORT=${PORT:?run scripts/quickstart.sh lake}
sock=$data/mariadb/mysqld.sock
state=$data/lake
cfg=$data/lake.yaml
client() { mariadb --protocol=socket -S "$sock" -uroot "$@"; }
step() { printf '\n== %s\n' "$*"; }

if ! command -v curl >/dev/null; then
	echo "installing curl (to create the demo bucket)..."
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
fi

step "S3 (versitygw) and DynamoDB (dynalite) emulators, from scripts/aws-emulators"
if [ -f "$data/aws/s3.pid" ] && kill -0 "$(cat "$data/aws/s3.pid")" 2>/dev/null; then
	echo "already running (stop them with: scripts/quickstart.sh stop)"
else
	"$root/scripts/aws-emulators/start.sh" "$data/aws"
fi
set -a
# shellcheck disable=SC1091
. "$data/aws/aws.env"
set +a
# The SHA-256 is that of the empty body, which S3 wants signed.
code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT "$AWS_ENDPOINT_URL_S3/lake")
case $code in
200) echo "created bucket lake" ;;
409) echo "bucket lake exists" ;;
*) echo "create bucket lake at $AWS_ENDPOINT_URL_S3: HTTP $code" >&2 && exit 1 ;;
esac

mkdir -p "$state"
cat >"$cfg" <<YAML
# sluice configuration for the lake quickstart (AWS endpoints and
# credentials come from $data/aws/aws.env).
pipeline: quickstart
start: latest
source:
  host: 127.0.0.1
  port: $PORT
  user: root
  password: ""
checkpoint:
  store: dynamodb
  table: sluice_checkpoints
  create_table: true
  dir: $state              # the compactor's catalog and warehouse
sinks:
  - type: s3
    bucket: lake
    prefix: cdc
snapshot:
  mode: initial            # the rows already there, before the binlog
  tables: [shop.orders]
YAML

step "demo data: shop.orders, before sluice's first run"
client <<'SQL'
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (
  id INT AUTO_INCREMENT PRIMARY KEY,
  customer VARCHAR(64) NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);
INSERT INTO shop.orders (customer, total) VALUES ('ann', 19.99), ('bob', 5.00), ('cy', 42.50);
SQL

sluice=${QUICKSTART_SLUICE:-}
if [ -z "$sluice" ]; then
	echo "building sluice with the compactor (go build -tags lake)..."
	go build -tags lake -o "$data/sluice-lake" ./cmd/sluice
	sluice=$data/sluice-lake
fi
run() { echo "\$ sluice $*"; "$sluice" "$@"; }

step "sluice run: initial snapshot of shop.orders, then the binlog, into s3://lake/cdc; checkpoint in DynamoDB"
run run --config "$cfg" --exit-when-caught-up

step "writes and an ALTER on the source"
client -v <<'SQL'
INSERT INTO shop.orders (customer, total) VALUES ('dee', 7.25);
UPDATE shop.orders SET status = 'paid' WHERE customer = 'ann';
DELETE FROM shop.orders WHERE customer = 'bob';
ALTER TABLE shop.orders ADD COLUMN IF NOT EXISTS note VARCHAR(40) NULL;
UPDATE shop.orders SET note = 'gift wrap' WHERE customer = 'cy';
SQL

step "sluice run again: resumes from the DynamoDB checkpoint"
run run --config "$cfg" --exit-when-caught-up
run checkpoint show --config "$cfg"

step "sluice compact: the lake into Iceberg snapshot tables (catalog $state/catalog.db)"
run compact --config "$cfg"

step "shop.orders read back through its Iceberg table"
run table show --config "$cfg" shop.orders
step "SELECT * FROM shop.orders on the source"
client -B -e 'SELECT * FROM shop.orders ORDER BY id'

step "sluice verify: the snapshot tables against the source"
run verify --config "$cfg" --wait 30s

cat <<EOF

== to look further
  set -a; . $data/aws/aws.env; set +a           # the emulators' endpoints and keys
  $sluice checkpoint show --config $cfg
  ls -R $data/aws/s3/lake/cdc | head            # the lake: zstd JSON lines, Hive partitions, _manifests/
  zstdcat \$(find $data/aws/s3/lake/cdc/shop -name '*.json.zst' | head -1)   # one object's events
  $sluice table show --config $cfg shop.orders  # after: $sluice compact --config $cfg
  mariadb -S $sock -uroot shop                  # change rows, then run, compact and verify again
  QUICKSTART_DIR=$data PORT=$PORT scripts/quickstart.sh stop   # stop MariaDB and the emulators
EOF
if [ "${1:-}" = --exit-when-caught-up ]; then
	exit 0
fi
step "streaming until Ctrl-C (change shop.orders in another terminal; then compact again)"
exec "$sluice" run --config "$cfg"
