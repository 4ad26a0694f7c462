#!/usr/bin/env bash
# One control plane and three nodes on loopback, no containers:
#
#   deploy/run-local.sh
#
# Builds wedge-control, wedge-node, wedge and the examples; starts the control plane on
# 127.0.0.1:7070, publishes the security-headers and redirects examples with alias `live`,
# starts a small origin (python3's http.server) on 127.0.0.1:8000, applies a distribution in
# front of it with both functions, and starts nodes on 127.0.0.1:8081-8083 (admin 9081-9083)
# that take everything from the control plane. Ctrl-C (or any failure) stops everything it
# started, the origin included.
#
# Ports can be moved: CONTROL_PORT (7070), ORIGIN_PORT (8000), NODE_PORT (8080: nodes take
# NODE_PORT+1..+3) and ADMIN_PORT (9080: admin listeners take ADMIN_PORT+1..+3), e.g.
#   CONTROL_PORT=17070 ORIGIN_PORT=18000 NODE_PORT=18080 ADMIN_PORT=19080 deploy/run-local.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
CONTROL_PORT=${CONTROL_PORT:-7070}
ORIGIN_PORT=${ORIGIN_PORT:-8000}
NODE_PORT=${NODE_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9080}
ADMIN_TOKEN=local-admin-token-$RANDOM$RANDOM$RANDOM
NODE_TOKEN=local-node-token-$RANDOM$RANDOM$RANDOM
PIDS=()
stop() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p wedge-control -p wedge-cdn -p wedge-cli
BIN="$ROOT/target/release"

cat > "$WORK/control.toml" <<TOML
listen = "127.0.0.1:$CONTROL_PORT"
data_dir = "control-data"
tokens = [
  { name = "admin", token = "$ADMIN_TOKEN", role = "admin" },
  { name = "nodes", token = "$NODE_TOKEN", role = "node" },
]
TOML
"$BIN/wedge-control" --config "$WORK/control.toml" &
PIDS+=($!)
until curl -sf "http://127.0.0.1:$CONTROL_PORT/healthz" >/dev/null; do sleep 0.1; done

export WEDGE_CONTROL_URL=http://127.0.0.1:$CONTROL_PORT WEDGE_TOKEN=$ADMIN_TOKEN
for function in security-headers redirects; do
    "$BIN/wedge" publish "$ROOT/examples/$function"
    "$BIN/wedge" alias set "$function" live 1
done

mkdir -p "$WORK/www/docs" && echo "hello from the origin" > "$WORK/www/index.html"
echo "the docs" > "$WORK/www/docs/index.html"
python3 -m http.server "$ORIGIN_PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
PIDS+=($!)

cat > "$WORK/site.toml" <<TOML
[[distributions]]
id = "local"
domains = ["*"]
[distributions.origins.www]
url = "http://127.0.0.1:$ORIGIN_PORT"
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
address = "127.0.0.1:$((NODE_PORT + i))"
[admin]
address = "127.0.0.1:$((ADMIN_PORT + i))"
[control_plane]
url = "http://127.0.0.1:$CONTROL_PORT"
token = "$NODE_TOKEN"
data_dir = "node-$i-data"
TOML
    "$BIN/wedge-node" --config "$WORK/node-$i.toml" &
    PIDS+=($!)
done
sleep 1
cat <<TEXT

control plane $WEDGE_CONTROL_URL, nodes http://127.0.0.1:$((NODE_PORT + 1)) .. $((NODE_PORT + 3)), files in $WORK
  curl -i http://127.0.0.1:$((NODE_PORT + 1))/docs/        # rewritten to /docs/index.html, security headers, via edge-1
  curl -i http://127.0.0.1:$((NODE_PORT + 2))/Docs/        # 301 to /docs/ from edge-2
  WEDGE_CONTROL_URL=$WEDGE_CONTROL_URL WEDGE_TOKEN=$ADMIN_TOKEN $BIN/wedge ls
  $BIN/wedge logs --node http://127.0.0.1:$((ADMIN_PORT + 1)) --follow
Ctrl-C stops everything.
TEXT
wait
