#!/usr/bin/env bash
# Live-capture benchmarks (as root), inside a private network namespace (tests/lab/lab.sh):
#   1. bulk loopback traffic (iperf3, SECONDS seconds) while a TLS client connects every 200 ms:
#      iperf3 throughput, kernel drops, and how many TLS flows `check` named;
#   2. CPU used by `watch` on an idle interface for SECONDS seconds (goal: under 1% of a core);
#   3. process-snapshot latency with 10,000 open sockets against `ss -tunap` (tests/attribution.rs).
# Usage: benches/live.sh [SECONDS=5]      Needs: iperf3, curl, dnsmasq, python3, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
WATCH_SECS=${WATCH_SECS:-20}
[ "$(id -u)" -eq 0 ] || { echo "benches/live.sh: run as root (network namespaces, capture)" >&2; exit 2; }
for t in iperf3 curl; do command -v $t >/dev/null || { echo "missing $t (apt-get install -y $t)" >&2; exit 2; }; done
cargo build --release --quiet
BIN=$PWD/target/release/egress-audit
NS=ea-bench-$$; WORK=$(mktemp -d)
trap 'bash tests/lab/lab.sh down $NS $WORK' EXIT
bash tests/lab/lab.sh up "$NS" "$WORK"
ip netns exec "$NS" iperf3 -s -D -B 127.0.0.2 -p 5201 >/dev/null

echo "## 1. bulk loopback traffic for ${SECS}s with a TLS flow every 200 ms"
ip netns exec "$NS" "$BIN" check -i lo --duration "$((SECS + 3))s" --format json >"$WORK/live.json" 2>"$WORK/live.err" &
CHECK=$!
sleep 1
ip netns exec "$NS" iperf3 -c 127.0.0.2 -p 5201 -t "$SECS" -f g | grep -E "receiver" &
n=0
end=$((SECONDS + SECS))
while [ $SECONDS -lt $end ]; do
  n=$((n + 1)); ip netns exec "$NS" curl -4 -sk -o /dev/null "https://tls$n.bench.example/"; sleep 0.2
done
wait "$CHECK" || true
python3 - "$WORK/live.json" "$n" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); sent = int(sys.argv[2])
c = d["source"][0]["capture"]
named = sum(1 for f in d["flows"] if (f["sni"] or "").endswith(".bench.example"))
bulk = max((f["bytes"] for f in d["flows"]), default=0)
print(f"kernel: received {c['received']}, dropped {c['dropped']}, if_dropped {c['if_dropped']}")
print(f"TLS flows named: {named} of {sent}; largest flow counted: {bulk/1e9:.2f} GB")
PY

echo "## 2. watch on an idle interface for ${WATCH_SECS}s (start-up included: process table, 64 MiB ring)"
/usr/bin/time -f "%U %S %e" -o "$WORK/watch.time" ip netns exec "$NS" timeout -s INT "$WATCH_SECS" "$BIN" watch -i lo >/dev/null 2>&1 || true
read -r user sys wall < <(tail -n 1 "$WORK/watch.time")
python3 -c "u,s,w=$user,$sys,$wall; print(f'CPU {u+s:.3f} s over {w:.2f} s wall = {100*(u+s)/w:.2f}% of one core')"

echo "## 3. socket snapshot with 10,000 sockets vs ss -tunap"
(ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; cargo test --release --quiet --test attribution -- --ignored --nocapture bench_ 2>&1 | grep -E "snapshot|ss -tun|lookup" || true)
