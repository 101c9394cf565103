#!/usr/bin/env bash
# compare.sh -- time `egress-audit replay` against tshark, tcpdump and cat on the same pcap, in one run,
# and measure egress-audit's peak memory on the ~0.6 GB file and on a ~1.9 GB one.
#
# Usage: benches/compare.sh [options] [FILE]
#
#   FILE               capture to time (default: /tmp/egress-bench/big.pcap, built on first use with
#                      /work/shared/corpus/make-bench-pcap.sh OUT 600 -- 634,585,344 bytes, 1,100,340
#                      packets, md5 81f7d45ce32b04a16bd1eafacbb9fb4e -- and reused afterwards)
#   --runs N           runs per command for egress-audit, tcpdump and cat (default 3)
#   --tshark-runs N    runs for tshark (default 1: ~3 minutes per run on the 600 MB file)
#   --no-tshark        skip tshark
#   --no-rss           skip the peak-memory measurements (and building the large file)
#   --copies N         the large file for the memory test is FILE's records N times over (default 3)
#
# What is timed (wall clock, page cache warm: every command gets one untimed warm-up run except tshark,
# whose first run is preceded by a `cat` of the file):
#   ours     target/release/egress-audit replay FILE --format json --output /dev/null
#   tshark   tshark -r FILE -T fields -e dns.qry.name -e tls.handshake.extensions_server_name > /dev/null
#   tcpdump  tcpdump -r FILE -w /dev/null
#   cat      cat FILE > /dev/null
# egress-audit exits 1 when the report holds a violation (the benchmark file does); any exit status above 1
# fails the benchmark.
#
# The large file (BENCH_DIR/big-xN.pcap) is built by the embedded python below, not mergecap -a: it
# writes FILE's pcap header once, then FILE's records N times, copy k (0-based) with every timestamp
# shifted by k * (span of FILE + 60 s), so the result stays in chronological order and no flow of one
# copy overlaps a flow of the next (mergecap -a would make time jump backwards at each seam). Classic
# pcap input only. It is cached and rebuilt only when missing or older than FILE.
#
# Timing uses hyperfine when installed (apt-get install -y hyperfine), otherwise a plain loop over
# `date +%s%N`. Peak RSS is GNU time's %M (/usr/bin/time, package `time`).
# Results (hyperfine JSON, the table) go to BENCH_DIR/results-<UTC timestamp>/. BENCH_DIR defaults to
# /tmp/egress-bench.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/egress-bench}"
MAKE_BENCH="${MAKE_BENCH:-/work/shared/corpus/make-bench-pcap.sh}"

runs=3
tshark_runs=1
do_tshark=1
do_rss=1
copies=3
file=""

die() { echo "compare.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing '$1' -- $2"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift 2;;
    --tshark-runs) tshark_runs="${2:?--tshark-runs needs a number}"; shift 2;;
    --no-tshark) do_tshark=0; shift;;
    --no-rss) do_rss=0; shift;;
    --copies) copies="${2:?--copies needs a number}"; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    -*) die "unknown option $1 (see --help)";;
    *) [ -z "$file" ] || die "only one FILE"; file="$1"; shift;;
  esac
done
for n in "$runs" "$tshark_runs" "$copies"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "run and copy counts must be positive integers (got '$n')"
done

# ---- tools -------------------------------------------------------------------------------------------
need cargo "install the Rust toolchain (rustup.rs)"
need tcpdump "apt-get install -y tcpdump"
need python3 "apt-get install -y python3"
need md5sum "apt-get install -y coreutils"
need capinfos "apt-get install -y wireshark-common"
[ "$do_tshark" = 1 ] && need tshark "apt-get install -y tshark (or pass --no-tshark)"
if [ "$do_rss" = 1 ]; then
  [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1 \
    || die "missing GNU time at /usr/bin/time -- apt-get install -y time (or pass --no-rss)"
fi
if command -v hyperfine >/dev/null 2>&1; then timer=hyperfine; else
  timer=loop
  echo "compare.sh: hyperfine not found (apt-get install -y hyperfine); timing with a shell loop" >&2
fi

mkdir -p "$BENCH_DIR"
if [ -z "$file" ]; then
  file="$BENCH_DIR/big.pcap"
  if [ ! -s "$file" ]; then
    [ -x "$MAKE_BENCH" ] || die "no FILE given and $MAKE_BENCH not found"
    for t in editcap mergecap tcprewrite; do
      need "$t" "apt-get install -y wireshark-common tcpreplay (needed to build the benchmark pcap)"
    done
    echo "building $file with $MAKE_BENCH (about 10 s)..." >&2
    "$MAKE_BENCH" "$file.tmp" 600 >&2
    mv "$file.tmp" "$file"
  fi
fi
[ -r "$file" ] || die "cannot read $file"
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"

# ---- build ---------------------------------------------------------------------------------------------
echo "cargo build --release ..." >&2
(cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
# cargo puts the binary under CARGO_TARGET_DIR when that is set.
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
ours="$target_dir/release/egress-audit"
[ -x "$ours" ] || die "$ours was not built"

# egress-audit exits 1 for "violations found"; only >1 is a failure.
ours_cmd="$ours replay $file --format json --output /dev/null"
ours_ok() { "$ours" replay "$1" --format json --output /dev/null; local rc=$?; [ "$rc" -le 1 ] || return "$rc"; }
set +e; ours_ok "$file"; rc=$?; set -e
[ "$rc" = 0 ] || die "egress-audit replay failed on $file (exit status $rc)"

# ---- input facts ---------------------------------------------------------------------------------------
bytes=$(stat -c %s "$file")
packets=$(capinfos -M -c -T -r "$file" 2>/dev/null | awk -F'\t' 'NF>1 {print $2; exit}')
[[ "$packets" =~ ^[0-9]+$ ]] || packets=0
md5=$(md5sum "$file" | cut -d' ' -f1)
out="$BENCH_DIR/results-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

{
  echo "## egress-audit vs tshark / tcpdump / cat"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "- load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- input: \`$file\`: $bytes bytes, $packets packets, md5 \`$md5\`"
  echo "- tools: $("$ours" --version 2>/dev/null | head -1); $(tshark --version 2>/dev/null | head -1 || true); $(tcpdump --version 2>&1 | head -1); timer: $timer"
  echo
} | tee "$out/header.md"

load1=$(cut -d' ' -f1 /proc/loadavg)
if python3 -c "import sys; sys.exit(0 if float('$load1') > 0.5 * $(nproc) else 1)"; then
  echo "WARNING: load average $load1 on $(nproc) CPUs -- something else is running; numbers will be noisy" >&2
fi

# ---- timing --------------------------------------------------------------------------------------------
# time_cmd NAME RUNS WARMUP COMMAND -> writes $out/NAME.times (one wall time in seconds per line)
time_cmd() {
  local name="$1" n="$2" warm="$3" cmd="$4"
  echo "timing $name ($n run(s)): $cmd" >&2
  if [ "$timer" = hyperfine ]; then
    hyperfine --style basic --runs "$n" --warmup "$warm" --export-json "$out/$name.json" "$cmd" >&2
    python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["results"][0]["times"]]' \
      "$out/$name.json" >"$out/$name.times"
  else
    local i t0 t1
    for ((i = 0; i < warm; i++)); do bash -c "$cmd" >/dev/null 2>&1; done
    : >"$out/$name.times"
    for ((i = 0; i < n; i++)); do
      t0=$(date +%s%N); bash -c "$cmd" >/dev/null 2>&1; t1=$(date +%s%N)
      python3 -c "print(($t1 - $t0) / 1e9)" >>"$out/$name.times"
    done
  fi
}

cat "$file" >/dev/null # into the page cache
time_cmd cat "$runs" 1 "cat '$file' > /dev/null"
time_cmd tcpdump "$runs" 1 "tcpdump -r '$file' -w /dev/null 2>/dev/null"
time_cmd ours "$runs" 1 "'$ours' replay '$file' --format json --output /dev/null; test \$? -le 1"
if [ "$do_tshark" = 1 ]; then
  cat "$file" >/dev/null
  time_cmd tshark "$tshark_runs" 0 \
    "tshark -r '$file' -T fields -e dns.qry.name -e tls.handshake.extensions_server_name > /dev/null 2>&1"
fi

python3 - "$out" "$bytes" "$packets" "$do_tshark" "$ours_cmd" "$file" <<'PY' | tee "$out/table.md"
import statistics, sys, os
out, size, packets, do_tshark, ours_cmd, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5], sys.argv[6]
name = os.path.basename(path)
rows = [
    ("ours", f"`egress-audit replay {name} --format json --output /dev/null`"),
    ("tshark", f"`tshark -r {name} -T fields -e dns.qry.name -e tls.handshake.extensions_server_name > /dev/null`"),
    ("tcpdump", f"`tcpdump -r {name} -w /dev/null`"),
    ("cat", f"`cat {name} > /dev/null`"),
]
med = {}
print("| command | runs (s) | median (s) | MB/s | packets/s |")
print("|---|---|---|---|---|")
for key, label in rows:
    p = os.path.join(out, key + ".times")
    if not os.path.exists(p):
        continue
    times = [float(l) for l in open(p) if l.strip()]
    m = statistics.median(times)
    med[key] = m
    pps = f"{packets / m / 1e6:,.2f} M" if packets and packets / m >= 1e5 else (f"{packets / m:,.0f}" if packets else "–")
    print(f"| {label} | {', '.join(f'{t:.3f}' for t in times)} | {m:.3f} | {size / m / 1e6:,.1f} | {pps} |")
print()
def ratio(a, b, text):
    if a in med and b in med:
        print(f"- {text}: **{med[a] / med[b]:.2f}×**")
ratio("tshark", "ours", "tshark / ours (how many times faster than tshark)")
ratio("ours", "tcpdump", "ours / tcpdump (wall-time ratio; above 1 = slower than tcpdump's plain read+write)")
ratio("ours", "cat", "ours / cat (wall-time ratio; above 1 = slower than just reading the file)")
print(f"- MB = 10^6 bytes; rates are the file's bytes and packets divided by the median wall time.")
PY

# ---- peak memory ---------------------------------------------------------------------------------------
if [ "$do_rss" = 1 ]; then
  big="$BENCH_DIR/$(basename "${file%.*}")-x$copies.pcap"
  if [ ! -s "$big" ] || [ "$big" -ot "$file" ]; then
    echo "building $big ($copies copies of $file, timestamps shifted per copy)..." >&2
    python3 - "$file" "$big.tmp" "$copies" <<'PY'
# Appends the records of a classic pcap COPIES times; copy k's timestamps are shifted by k * (span + 60 s).
import struct, sys
src, dst, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, "rb") as f:
    hdr = f.read(24)
    magic = hdr[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("not a classic pcap file (pcapng is not supported here)")
    rec = struct.Struct(e + "IIII")
    # pass 1: the time span, from record headers only
    lo, hi = None, None
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        sec, frac, incl, orig = rec.unpack(h)
        lo = sec if lo is None else min(lo, sec)
        hi = sec if hi is None else max(hi, sec)
        f.seek(incl, 1)
    shift = (hi - lo) + 60 if lo is not None else 0
    with open(dst, "wb") as o:
        o.write(hdr)
        for k in range(copies):
            f.seek(24)
            while True:
                h = f.read(16)
                if len(h) < 16:
                    break
                sec, frac, incl, orig = rec.unpack(h)
                o.write(rec.pack(sec + k * shift, frac, incl, orig))
                o.write(f.read(incl))
print(f"span {shift - 60} s, shift per copy {shift} s", file=sys.stderr)
PY
    mv "$big.tmp" "$big"
  fi
  big_bytes=$(stat -c %s "$big")
  cat "$big" >/dev/null 2>&1 || true
  rss_line() { # FILE -> "| file | bytes | wall s | MB/s | peak RSS |"
    local f="$1" b res rc
    b=$(stat -c %s "$f")
    set +e
    /usr/bin/time -o "$out/time.tmp" -f '%e %M' "$ours" replay "$f" --format json --output /dev/null 2>/dev/null
    rc=$?
    set -e
    [ "$rc" -le 1 ] || die "egress-audit replay failed on $f (exit status $rc)"
    read -r wall kb < <(tail -1 "$out/time.tmp")
    python3 -c "import sys; w, kb, b = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]); rate = f\"{b / w / 1e6:,.0f}\" if w >= 0.01 else \"–\"; print(f'| \`{sys.argv[4]}\` | {b:,} | {w:.2f} | {rate} | {kb:,} KB ({kb / 1024:.1f} MiB) |')" \
      "$wall" "$kb" "$b" "$(basename "$f")"
  }
  {
    echo
    echo "### egress-audit peak RSS (\`/usr/bin/time -f %M\`, replay --format json --output /dev/null)"
    echo
    echo "| file | bytes | wall (s) | MB/s | peak RSS |"
    echo "|---|---|---|---|---|"
    rss_line "$file"
    rss_line "$big"
    echo
    echo "\`$(basename "$big")\`: the records of \`$(basename "$file")\` $copies times, copy k shifted by k × (span + 60 s) (python in benches/compare.sh)."
  } | tee "$out/rss.md"
fi
echo >&2
echo "results in $out" >&2
