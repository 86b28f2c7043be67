#!/usr/bin/env bash
# Real-browser tests: builds portunus, starts it on loopback with a test config (the VideoRoom
# rooms taken from the repo's config.toml), runs headless Chromium through Debian's unchanged
# janus-demos pages (echotest.mjs: EchoTest over HTTP long-poll and WebSocket; videoroom.mjs:
# two VideoRoom participants, simulcast substream switching, VP9 SVC layer switching with
# vp9svctest; streaming.mjs: streamingtest
# watching the sample mountpoint fed by ffmpeg), stops the server, prints
# "browser: N passed, N failed" and exits non-zero on any failure. Failure screenshots and
# console logs go to $BROWSER_ARTIFACTS.
#
# Env: PORTUNUS_HTTP_PORT (8088), PORTUNUS_WS_PORT (8188), CARGO_PROFILE (dev|release, dev),
# BROWSER_ARTIFACTS (default: a fresh temporary folder, kept only on failure),
# BROWSER_TESTS (which scripts, default "echotest videoroom streaming").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
http_port="${PORTUNUS_HTTP_PORT:-8088}"
ws_port="${PORTUNUS_WS_PORT:-8188}"
profile="${CARGO_PROFILE:-dev}"

# Debian packages the test drives: the browser, the demo pages and janus.js. Installed here
# only if missing (CI installs them up front); never copied into the repo.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/janus/demos/echotest.html ] || need+=(janus-demos)
[ -f /usr/share/javascript/janus-gateway/janus.min.js ] || need+=(libjs-janus-gateway)
if [ ${#need[@]} -gt 0 ]; then
  echo "browser test: installing ${need[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi

echo "browser test: building portunus ($profile)"
cargo build --manifest-path "$repo/Cargo.toml" -p portunus --bin portunus --profile "$profile"
target_dir="$(cargo metadata --manifest-path "$repo/Cargo.toml" --format-version 1 --no-deps \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
bin="$target_dir/$([ "$profile" = dev ] && echo debug || echo "$profile")/portunus"

work="$(mktemp -d)"
artifacts="${BROWSER_ARTIFACTS:-$(mktemp -d -t portunus-browser-artifacts.XXXXXX)}"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Loopback only: the gateway offers a 127.0.0.1 host candidate, Chromium connects to it.
cat > "$work/config.toml" <<TOML
[general]
session_timeout = 60

[transports.http]
bind = "127.0.0.1"
port = $http_port
demos_dir = "$repo/demos"

[transports.websocket]
bind = "127.0.0.1"
port = $ws_port

[media]
udp_port = 0
interfaces = ["127.0.0.1"]

TOML
# The VideoRoom's settings and rooms exactly as shipped (room 1234 is the demos' room), and the
# Streaming plugin's (mountpoint 1, rtp-sample): every table of config.toml under
# [plugins."janus.plugin.videoroom"] and [plugins."janus.plugin.streaming"].
awk '/^\[\[?[^]]*\]\]?[ \t]*$/ { keep = ($0 ~ /^\[\[?plugins\."janus\.plugin\.(videoroom|streaming)"/) } keep' \
  "$repo/config.toml" >> "$work/config.toml"
grep -q '^room = 1234' "$work/config.toml" || {
  echo "browser test: config.toml has no VideoRoom room 1234"
  echo "browser: 0 passed, 1 failed"
  exit 1
}

for port in "$http_port" "$ws_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "browser test: port $port is already in use (set PORTUNUS_HTTP_PORT / PORTUNUS_WS_PORT)"
    echo "browser: 0 passed, 1 failed"
    exit 1
  fi
done

echo "browser test: starting $bin"
RUST_LOG="${RUST_LOG:-info}" "$bin" --config "$work/config.toml" > "$work/server.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null \
    && (exec 3<>"/dev/tcp/127.0.0.1/$ws_port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "browser test: portunus did not come up; its log:"
  cat "$work/server.log"
  echo "browser: 0 passed, 1 failed"
  exit 1
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
passed=0
failed=0
for t in ${BROWSER_TESTS:-echotest videoroom streaming}; do
  echo "browser test: $t.mjs"
  # Every wait in the scripts is bounded; the timeout only guards against a wedged browser.
  set +e
  PORTUNUS_HTTP="http://127.0.0.1:$http_port/janus" PORTUNUS_WS="ws://127.0.0.1:$ws_port" \
    BROWSER_ARTIFACTS="$artifacts" timeout -s INT -k 30 900 node "$t.mjs" 2>&1 | tee "$work/$t.out"
  rc=${PIPESTATUS[0]}
  set -e
  # The script's own summary line ("<suite>: N passed, N failed"); no summary, or a non-zero
  # exit with no failure counted, counts as one failure.
  summary="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$work/$t.out" | tail -n 1 || true)"
  p="$(sed -nE 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' <<<"$summary")"
  f="$(sed -nE 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' <<<"$summary")"
  p="${p:-0}"
  f="${f:-0}"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "browser test: $t.mjs exited with $rc"
    f=1
  fi
  # Chromium's subscribers and viewers must have been served by the native send path
  # ([media] native_egress, on by default): the server logs it once per PeerConnection.
  if [ "$f" -eq 0 ] && [ "$t" != echotest ] \
    && ! grep -q "routed RTP on the native send path" "$work/server.log"; then
    echo "browser test: $t.mjs passed, but no PeerConnection used the native send path"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    echo "browser test: $t failed; portunus log (last 80 lines):"
    tail -n 80 "$work/server.log"
  fi
done
if [ "$failed" -ne 0 ]; then
  mkdir -p "$artifacts"
  cp "$work/server.log" "$artifacts/portunus.log"
  echo "browser test: screenshots, console logs and portunus.log in $artifacts"
elif [ -z "${BROWSER_ARTIFACTS:-}" ]; then
  rm -rf "$artifacts"
fi
echo "browser: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
