#!/usr/bin/env bash
# quic-bench-pcap.sh -- build a QUIC-heavy Ethernet pcap for replay throughput benchmarks from the
# corpus's QUIC captures. The output is NOT meant to be kept in the repository.
#
# Usage: benches/quic-bench-pcap.sh OUT [TARGET_MB=200]
#
# Steps (the same scheme as /work/shared/corpus/make-bench-pcap.sh, restricted to QUIC):
#   1. take every corpus capture named *quic* (CORPUS, default /work/shared/corpus/pcaps) whose
#      encapsulation (capinfos -E) is Ethernet, convert it to classic microsecond pcap (editcap -F pcap)
#      and concatenate them in name order into one "unit" (mergecap -a). Captures tcprewrite cannot
#      process are skipped. Non-Ethernet QUIC captures (linux-sll, raw IP, null, ppp) are left out.
#   2. normalise the unit's timestamps (python): start at 2024-01-01T00:00:00Z, keep each
#      inter-packet gap when it is between 0 and 60 s, otherwise use 1 ms.
#   3. make N = ceil(TARGET_MB MiB / unit size) copies. Copy 1 is the unit; copy i > 1 has its
#      IPv4/IPv6 addresses remapped by `tcprewrite --seed=i --fixcsum` (distinct flows, not
#      retransmissions) and its timestamps shifted by (i-1) * span (editcap -t), so the file stays in
#      chronological order.
#   4. concatenate the copies (mergecap -a -F pcap) into OUT.
# Needs: wireshark-common (editcap, mergecap, capinfos), tcpreplay (tcprewrite), python3.
# Deterministic: the same corpus and TARGET_MB give the same OUT.
set -euo pipefail

OUT="${1:?usage: quic-bench-pcap.sh OUT [TARGET_MB]}"
TARGET_MB="${2:-200}"
CORPUS="${CORPUS:-/work/shared/corpus/pcaps}"
[[ "$TARGET_MB" =~ ^[1-9][0-9]*$ ]] || { echo "TARGET_MB must be a positive integer" >&2; exit 1; }

for t in editcap mergecap capinfos tcprewrite python3; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install wireshark-common tcpreplay python3)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/quicbench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/copies"

# ---- 1. Ethernet QUIC captures -> one unit --------------------------------------------------
n_in=0
for f in "$CORPUS"/*quic*; do
  [ -f "$f" ] || continue
  enc="$(capinfos -T -r -E "$f" 2>/dev/null | cut -f2 || true)"
  if [ "$enc" != "ether" ]; then
    echo "skipping $(basename "$f"): encapsulation '${enc:-?}', not Ethernet" >&2
    continue
  fi
  g="$work/in/$(basename "$f").pcap"
  editcap -F pcap "$f" "$g" 2>/dev/null || { rm -f "$g"; continue; }
  if ! tcprewrite --seed=1 --fixcsum --infile="$g" --outfile="$work/probe.pcap" >/dev/null 2>&1; then
    echo "skipping $(basename "$f"): tcprewrite cannot process it" >&2
    rm -f "$g"; continue
  fi
  n_in=$((n_in+1))
done
[ "$n_in" -gt 0 ] || { echo "no Ethernet QUIC captures in $CORPUS" >&2; exit 1; }
mergecap -a -F pcap -w "$work/unit_raw.pcap" "$work"/in/*.pcap

# ---- 2. normalise timestamps -----------------------------------------------------------------
span=$(python3 - "$work/unit_raw.pcap" "$work/unit.pcap" <<'PY'
import struct, sys, math
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
magic = data[:4]
assert magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"), "expected microsecond pcap"
e = "<" if magic == b"\xd4\xc3\xb2\xa1" else ">"
out = bytearray(data[:24])
off, prev, t = 24, None, 1704067200.0   # 2024-01-01T00:00:00Z
while off + 16 <= len(data):
    sec, usec, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
    ts = sec + usec / 1e6
    if prev is not None:
        gap = ts - prev
        t += gap if 0.0 <= gap <= 60.0 else 0.001
    prev = ts
    us = int(round(t * 1e6))
    out += struct.pack(e + "IIII", us // 1000000, us % 1000000, incl, orig)
    out += data[off + 16:off + 16 + incl]
    off += 16 + incl
open(dst, "wb").write(out)
print(int(math.ceil(t - 1704067200.0)) + 1)
PY
)
unit_bytes=$(stat -c %s "$work/unit.pcap")
copies=$(( (TARGET_MB*1024*1024 + unit_bytes - 1) / unit_bytes ))
echo "unit: $n_in Ethernet QUIC captures ($(cd "$work/in" && ls | sed 's/\.pcap$//' | tr '\n' ' ')), $unit_bytes bytes, span ${span}s; making $copies copies" >&2

# ---- 3. copies with remapped addresses and shifted time ----------------------------------------
list=()
for i in $(seq 1 "$copies"); do
  c="$work/copies/c$(printf %05d "$i").pcap"
  if [ "$i" -eq 1 ]; then
    cp "$work/unit.pcap" "$c"
  else
    tcprewrite --seed="$i" --fixcsum --infile="$work/unit.pcap" --outfile="$c.tmp" >/dev/null 2>&1 \
      || { echo "tcprewrite failed for copy $i; using unmodified addresses" >&2; cp "$work/unit.pcap" "$c.tmp"; }
    editcap -t "$(( (i-1) * span ))" "$c.tmp" "$c"
    rm -f "$c.tmp"
  fi
  list+=("$c")
done

# ---- 4. concatenate --------------------------------------------------------------------------
# In batches, so the number of open files stays small.
batch=200 parts=()
for ((s = 0; s < ${#list[@]}; s += batch)); do
  p="$work/part$(printf %05d "$s").pcap"
  mergecap -a -F pcap -w "$p" "${list[@]:s:batch}"
  parts+=("$p")
done
mergecap -a -F pcap -w "$OUT" "${parts[@]}"
capinfos -c -s -a -e "$OUT" >&2
