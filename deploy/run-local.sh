#!/usr/bin/env bash
# One control plane and three nodes on loopback, no containers:
#
#   deploy/run-local.sh
#
# Builds wedge-control, wedge-node, wedge and the examples; starts the control plane on
# 127.0.0.1:7070, publishes the security-headers and redirects examples with alias `live`,
# starts a small origin (python3's http.server) on 127.0.0.1:8000, applies a distribution in
# front of it with both functions, and starts nodes on 127.0.0.1:8081-8083 (admin 9081-9083)
# that take everything from the control plane. Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
ADMIN_TOKEN=local-admin-token-$RANDOM$RANDOM$RANDOM
NODE_TOKEN=local-node-token-$RANDOM$RANDOM$RANDOM
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p wedge-control -p wedge-cdn -p wedge-cli
BIN="$ROOT/target/release"

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
for function in security-headers redirects; do
    "$BIN/wedge" publish "$ROOT/examples/$function"
    "$BIN/wedge" alias set "$function" live 1
done

mkdir -p "$WORK/www/docs" && echo "hello from the origin" > "$WORK/www/index.html"
echo "the docs" > "$WORK/www/docs/index.html"
(cd "$WORK/www" && python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1) &

cat > "$WORK/site.toml" <<TOML
[[distributions]]
id = "local"
domains = ["*"]
[distributions.origins.www]
url = "http://127.0.0.1:8000"
[distributions.default_behavior]
origin = "www"
[[distributions.default_behavior.functions]]
event = "viewer-request"
function = "redirects@live"
[[distributions.default_behavior.functions]]
event = "viewer-response"
function = "security-headers@live"
TOML
"$BIN/wedge" deploy --file "$WORK/site.toml"

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
TOML
    "$BIN/wedge-node" --config "$WORK/node-$i.toml" &
done
sleep 1
cat <<TEXT

control plane http://127.0.0.1:7070, nodes http://127.0.0.1:8081 .. 8083, files in $WORK
  curl -i http://127.0.0.1:8081/docs/        # rewritten to /docs/index.html, security headers, via edge-1
  curl -i http://127.0.0.1:8082/Docs/        # 301 to /docs/ from edge-2
  WEDGE_CONTROL_URL=$WEDGE_CONTROL_URL WEDGE_TOKEN=$ADMIN_TOKEN $BIN/wedge ls
  $BIN/wedge logs --node http://127.0.0.1:9081 --follow
Ctrl-C stops everything.
TEXT
wait
