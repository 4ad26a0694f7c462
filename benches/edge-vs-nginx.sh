#!/usr/bin/env bash
# wedge-node vs nginx (proxy_cache), side by side, on cache hits.
#
#   benches/edge-vs-nginx.sh            # needs nginx and wrk: apt-get install -y nginx-light wrk
#
# Both caches front the same origin (a third nginx server block serving one 1 KiB object,
# cacheable for an hour). Each cache runs pinned to core 0; wrk runs pinned to core 1 with
# browser-like request headers and a cookie. Cases:
#   plain     cache hit, no functions (wedge /plain/ vs nginx /plain/)
#   function  cache hit with a viewer-request function that reads and rewrites headers on every
#             request (wedge /fn/, fixture header_rewrite) vs nginx without one
# Prints req/s, p50, p99 and the ratio wedge/nginx. Access logs are off on both.
# Not run in CI: numbers need a quiet machine. Results go to BENCHMARKS.md by hand.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
ORIGIN_PORT=${ORIGIN_PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
WEDGE_PORT=${WEDGE_PORT:-18092}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

for tool in nginx wrk taskset; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light wrk" >&2; exit 1; }
done

echo "building wedge-node and the guest fixtures (release)..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p wedge-cdn --bin wedge-node
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p wedge-test-fixtures --features guests
FUNCTION=$(find "$ROOT/target/wasm-fixtures" -path '*release*' -name header_rewrite.wasm | head -1)
[ -n "$FUNCTION" ] || { echo "header_rewrite.wasm was not built" >&2; exit 1; }

mkdir -p "$WORK/www" "$WORK/cache"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$WORK/www/object"

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
user $(id -un) $(id -gn);
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    proxy_cache_path $WORK/cache keys_zone=edge:10m max_size=100m inactive=1h;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / {
            root $WORK/www;
            try_files /object =404;
            add_header Cache-Control "public, max-age=3600";
        }
    }
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport;
        location / {
            proxy_pass http://127.0.0.1:$ORIGIN_PORT;
            proxy_cache edge;
            proxy_cache_valid 200 1h;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
NGINX
taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK"

cat > "$WORK/node.toml" <<TOML
[node]
id = "bench"
access_log = "off"

[[listeners]]
address = "127.0.0.1:$WEDGE_PORT"

[[distributions]]
id = "bench"
domains = ["*"]

[distributions.origins.origin]
url = "http://127.0.0.1:$ORIGIN_PORT"

[[distributions.behaviors]]
path = "/fn/*"
origin = "origin"

[[distributions.behaviors.functions]]
event = "viewer-request"
function = "$FUNCTION"

[distributions.default_behavior]
origin = "origin"
TOML
WEDGE_LOG=warn taskset -c 0 "$ROOT/target/release/wedge-node" --config "$WORK/node.toml" &
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$WEDGE_PORT/plain/object" && break
    sleep 0.1
done

HEADERS=(
    -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    -H "Accept-Language: en-GB,en;q=0.9,de;q=0.7"
    -H "Accept-Encoding: gzip, deflate, br, zstd"
    -H "Cookie: session=4f1c2a9e8b7d; theme=dark; _ga=GA1.2.123456789.1700000000"
    -H "Referer: https://www.example.com/"
    -H "X-Tracking-Id: abc-123"
)

# Warm both caches, and check they answer from the cache.
for url in "http://127.0.0.1:$NGINX_PORT/plain/object" "http://127.0.0.1:$WEDGE_PORT/plain/object" "http://127.0.0.1:$WEDGE_PORT/fn/object"; do
    curl -s -o /dev/null "$url"; curl -s -o /dev/null "$url"
done
curl -s -D - -o /dev/null "http://127.0.0.1:$NGINX_PORT/plain/object" > "$WORK/check" || true; grep -qi "x-cache: HIT" "$WORK/check" || { echo "nginx is not caching:" >&2; cat "$WORK/check" "$WORK/nginx-error.log" >&2; exit 1; }
curl -s -D - -o /dev/null "http://127.0.0.1:$WEDGE_PORT/fn/object" | grep -qi 'x-cache: Hit from wedge' || { echo "wedge is not caching" >&2; exit 1; }

# once URL -> "req/s p50 p99" (latencies in ms)
once() {
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${HEADERS[@]}" "$1" > "$WORK/wrk.out"
    python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r'^\s*' + label + r'\s+([\d.]+)(us|ms|s)\s*$', text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == 'us' else value * 1000 if unit == 's' else value
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', text).group(1))
errors = re.search(r'Non-2xx or 3xx responses: (\d+)', text)
if errors: print('errors:', errors.group(1), file=sys.stderr)
print(f"{rps:.0f} {ms('50%'):.3f} {ms('99%'):.3f}")
PY
}

# run URL -> the median round of $ROUNDS by req/s. Rounds of the cases interleave (see below),
# so a noisy moment on the machine does not land on one case only.
declare -A RESULTS
round_robin() {
    for round in $(seq 1 "$ROUNDS"); do
        for case in nginx plain fn; do
            RESULTS[$case]+="$(once "${URLS[$case]}")"$'\n'
        done
    done
}
median() {
    printf '%s' "${RESULTS[$1]}" | sort -n | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

declare -A URLS=(
    [nginx]="http://127.0.0.1:$NGINX_PORT/plain/object"
    [plain]="http://127.0.0.1:$WEDGE_PORT/plain/object"
    [fn]="http://127.0.0.1:$WEDGE_PORT/fn/object"
)
round_robin
read -r nginx_rps nginx_p50 nginx_p99 <<< "$(median nginx)"
read -r plain_rps plain_p50 plain_p99 <<< "$(median plain)"
read -r fn_rps fn_p50 fn_p99 <<< "$(median fn)"

printf '\n%-34s %10s %9s %9s %12s\n' "median of $ROUNDS x $DURATION, $CONNECTIONS conns" "req/s" "p50 ms" "p99 ms" "wedge/nginx"
printf '%-34s %10s %9s %9s %12s\n' "nginx proxy_cache hit" "$nginx_rps" "$nginx_p50" "$nginx_p99" "-"
printf '%-34s %10s %9s %9s %12s\n' "wedge hit, no function" "$plain_rps" "$plain_p50" "$plain_p99" "$(python3 -c "print(f'{$plain_rps/$nginx_rps:.2f}x')")"
printf '%-34s %10s %9s %9s %12s\n' "wedge hit, viewer-request function" "$fn_rps" "$fn_p50" "$fn_p99" "$(python3 -c "print(f'{$fn_rps/$nginx_rps:.2f}x')")"
