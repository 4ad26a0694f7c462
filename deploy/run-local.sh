#!/usr/bin/env bash
# One control plane and three nodes on loopback, no containers:
#
#   deploy/run-local.sh
#
# Builds wedge-control, wedge-node, wedge and the guest fixtures; starts the control plane on
# 127.0.0.1:7070, publishes the `hello` fixture as function `hello` with alias `live`, starts
# a small origin (python3's http.server) on 127.0.0.1:8000 and nodes on 127.0.0.1:8081-8083
# (admin 9081-9083), all following the control plane. Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
ADMIN_TOKEN=local-admin-token-$RANDOM$RANDOM$RANDOM
NODE_TOKEN=local-node-token-$RANDOM$RANDOM$RANDOM
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p wedge-control -p wedge-cdn -p wedge-cli -p wedge-test-fixtures
BIN="$ROOT/target/release"
HELLO=$(find "$ROOT/target/wasm-fixtures" -path '*release*' -name hello.wasm | head -1)

cat > "$WORK/control.toml" <<TOML
listen = "127.0.0.1:7070"
data_dir = "control-data"
tokens = [
  { name = "admin", token = "$ADMIN_TOKEN", role = "admin" },
  { name = "nodes", token = "$NODE_TOKEN", role = "node" },
]
TOML
"$BIN/wedge-control" --config "$WORK/control.toml" &
until curl -sf http://127.0.0.1:7070/healthz >/dev/null; do sleep 0.1; done

export WEDGE_CONTROL_URL=http://127.0.0.1:7070 WEDGE_TOKEN=$ADMIN_TOKEN
"$BIN/wedge" publish --file "$HELLO" --name hello
"$BIN/wedge" alias set hello live 1

mkdir -p "$WORK/www" && echo "hello from the origin" > "$WORK/www/index.html"
(cd "$WORK/www" && python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1) &

for i in 1 2 3; do
    cat > "$WORK/node-$i.toml" <<TOML
[node]
id = "edge-$i"
access_log = "node-$i-access.log"
[[listeners]]
address = "127.0.0.1:808$i"
[admin]
address = "127.0.0.1:908$i"
[control_plane]
url = "http://127.0.0.1:7070"
token = "$NODE_TOKEN"
data_dir = "node-$i-data"
[[distributions]]
id = "local"
domains = ["*"]
[distributions.origins.www]
url = "http://127.0.0.1:8000"
[distributions.default_behavior]
origin = "www"
[[distributions.default_behavior.functions]]
event = "viewer-request"
function = "control:hello@live"
TOML
    "$BIN/wedge-node" --config "$WORK/node-$i.toml" &
done
sleep 1
cat <<TEXT

control plane http://127.0.0.1:7070, nodes http://127.0.0.1:8081 .. 8083, files in $WORK
  curl -i http://127.0.0.1:8081/index.html       # x-cache, via edge-1; the origin saw x-hello: world
  curl -s http://127.0.0.1:7070/v1/nodes -H "authorization: Bearer $ADMIN_TOKEN"
  WEDGE_TOKEN=$ADMIN_TOKEN $BIN/wedge ls
Ctrl-C stops everything.
TEXT
wait
