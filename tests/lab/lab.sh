#!/usr/bin/env bash
# A private network namespace for live tests: only `lo`, a dnsmasq that answers every name with
# 127.0.0.2, and an HTTPS + HTTP sink on 127.0.0.2 (fixtures/tools/http_sink.py). No packet leaves it.
#
#   lab.sh up NS WORKDIR     create it (as root); prints nothing on success
#   lab.sh down NS WORKDIR   stop its processes and remove it
set -euo pipefail
cmd=${1:?up|down}; NS=${2:?namespace}; WORK=${3:?work dir}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SINK=$HERE/../../fixtures/tools/http_sink.py

down() {
    if ip netns list | awk '{print $1}' | grep -qxF "$NS"; then
        local pids; pids=$(ip netns pids "$NS" 2>/dev/null || true)
        [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
        sleep 0.2
        pids=$(ip netns pids "$NS" 2>/dev/null || true)
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        ip netns del "$NS"
    fi
    rm -rf "/etc/netns/$NS"
}

wait_port() { # proto addr:port
    for _ in $(seq 100); do
        ip netns exec "$NS" ss -Hln"$1" | grep -qF "$2" && return 0
        sleep 0.05
    done
    echo "lab.sh: nothing listens on $2 in $NS" >&2; return 1
}

up() {
    down
    mkdir -p "$WORK"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    mkdir -p "/etc/netns/$NS"
    echo "nameserver 127.0.0.53" > "/etc/netns/$NS/resolv.conf"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj "/CN=egress-audit lab" 2>/dev/null
    ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= --user=root \
        --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.53 \
        --address=/#/127.0.0.2 --log-queries --log-facility="$WORK/dnsmasq.log" >"$WORK/dnsmasq.out" 2>&1 &
    ip netns exec "$NS" python3 "$SINK" --cert "$WORK/cert.pem" --key "$WORK/key.pem" --bind 127.0.0.2:443 \
        >"$WORK/https.log" 2>&1 &
    ip netns exec "$NS" python3 "$SINK" --bind 127.0.0.2:80 >"$WORK/http.log" 2>&1 &
    wait_port u 127.0.0.53:53
    wait_port t 127.0.0.2:443
    wait_port t 127.0.0.2:80
}

case "$cmd" in
    up) up ;;
    down) down; rm -rf "$WORK" ;;
    *) echo "usage: lab.sh up|down NS WORKDIR" >&2; exit 2 ;;
esac
