#!/usr/bin/env bash
# `npm start` stops what it started: SIGTERM and SIGINT sent to the npm process alone (as a
# process manager or `kill <pid>` does) must stop wrangler and workerd, not leave them serving.
# Both signals at once, each on its own free port with throw-away state.
set -euo pipefail
cd "$(dirname "$0")/../.."
export WRANGLER_SEND_METRICS=false
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT

check() {
  local signal=$1 port inspector npm_pid
  port=$(free_port); inspector=$(free_port)
  setsid npm start -- --port "$port" --inspector-port "$inspector" --persist-to "$STATE/$signal" >"$STATE/$signal.log" 2>&1 &
  npm_pid=$!
  for _ in $(seq 1 90); do curl -sf "http://localhost:$port/.well-known/jwks.json" >/dev/null && break; sleep 1; done
  if ! curl -sf "http://localhost:$port/.well-known/jwks.json" >/dev/null; then
    cat "$STATE/$signal.log"; kill -- -"$npm_pid" 2>/dev/null || true
    echo "npm start did not serve on $port" >&2; return 1
  fi
  kill -"$signal" "$npm_pid"   # the npm process only, not its group
  for _ in $(seq 1 20); do
    if ! pgrep -f -- "--port $port " >/dev/null && ! curl -s -o /dev/null "http://localhost:$port/"; then
      echo "npm start: SIG$signal stopped npm, wrangler and workerd"
      return 0
    fi
    sleep 0.5
  done
  pgrep -af -- "--port $port " >&2 || true
  kill -- -"$npm_pid" 2>/dev/null || true
  echo "npm start: after SIG$signal something still serves on $port" >&2
  return 1
}

check TERM & TERM_CHECK=$!
check INT & INT_CHECK=$!
wait "$TERM_CHECK"
wait "$INT_CHECK"
