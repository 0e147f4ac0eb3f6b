#!/usr/bin/env bash
# Builds the benchmarks in Release (build-bench/), runs them, and records
# bench/RESULTS.md with the tables, the exact command, the machine and the date.
#
#   bench/run.sh [ltx] [extra ltx_bench flags, e.g. --benchmark_filter=Decode]
#   bench/run.sh producer [producer_bench flags, e.g. --only rate --reps 5]
#   bench/run.sh follower [follower_bench flags, e.g. --only nats,apply]
#   bench/run.sh archive [archive_bench flags, e.g. --only requests --seconds 120]
#   bench/run.sh all
#
# ltx: the LTX codec (ltx_bench), pinned to one core. It rewrites RESULTS.md
# above its "## Interpretation" heading; everything from there on (the
# hand-written interpretation, and the producer section after it) is kept.
# producer: `ltxbus replicate` against real servers (producer_bench, see
# bench/producer_bench.cc); it replaces only the text between its
# "<!-- producer_bench: begin/end -->" markers, so hand-written notes after
# the end marker are kept too. It takes several minutes.
# follower: commit -> visible on an `ltxbus follow` replica over NATS and
# Kafka vs Litestream's `restore -f`, and the apply rate (follower_bench, see
# bench/follower_bench.cc); it replaces only the text between its
# "<!-- follower_bench: begin/end -->" markers. Not part of `all`.
# archive: restore throughput of a 1 GiB database from a local and an S3
# archive (versitygw) vs `litestream restore` and dd, and object-store
# requests per hour at 10 transactions/s vs `litestream replicate`
# (archive_bench, see bench/archive_bench.cc); it replaces only the text
# between its "<!-- archive_bench: begin/end -->" markers. About 10 minutes,
# ~8 GB of temporary disk. Not part of `all`.
#
# LTXBUS_BENCH_BUILD overrides the build directory; LTXBUS_BENCH_CXXFLAGS, if
# set, becomes CMAKE_CXX_FLAGS (e.g. "-Wno-error=restrict" while GCC 12's -O3
# false positives break a Release build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${LTXBUS_BENCH_BUILD:-$root/build-bench}"
results="$here/RESULTS.md"

cmake_args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release)
[[ -n "${LTXBUS_BENCH_CXXFLAGS+x}" ]] && cmake_args+=("-DCMAKE_CXX_FLAGS=$LTXBUS_BENCH_CXXFLAGS")
mkdir -p "$build"

what=ltx
case "${1:-}" in
  ltx | producer | follower | archive | all) what="$1"; shift ;;
esac
[[ "$what" != all || $# -eq 0 ]] || { echo "bench/run.sh all takes no extra flags" >&2; exit 2; }

build_targets() {
  local log="$build/bench-build.log"
  if ! { cmake "${cmake_args[@]}" && cmake --build "$build" -j"$(nproc)" --target "$@"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bench/run.sh: build failed; full log in $log" >&2
    exit 1
  fi
}

run_producer() {
  build_targets producer_bench
  [[ -x "$build/bin/producer_bench" ]] ||
    { echo "bench/run.sh: producer_bench was not built (needs libsqlite3-dev)" >&2; exit 1; }
  local cmd=("$build/bin/producer_bench" --results "$results"
    --command "bench/run.sh producer${*:+ $*}" "$@")
  echo "+ ${cmd[*]}" >&2
  "${cmd[@]}" >/dev/null
}

if [[ "$what" == producer ]]; then
  run_producer "$@"
  exit 0
fi

if [[ "$what" == follower || "$what" == archive ]]; then
  build_targets "${what}_bench"
  [[ -x "$build/bin/${what}_bench" ]] ||
    { echo "bench/run.sh: ${what}_bench was not built (needs libsqlite3-dev)" >&2; exit 1; }
  cmd=("$build/bin/${what}_bench" --results "$results"
    --command "bench/run.sh $what${*:+ $*}" "$@")
  echo "+ ${cmd[*]}" >&2
  "${cmd[@]}" >/dev/null
  exit 0
fi

build_targets ltx_bench

json="$build/ltx_bench.json"
# One core, so the numbers are single-core throughput; the benchmark itself is
# single-threaded either way.
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
cmd=("${pin[@]}" "$build/bin/ltx_bench" --benchmark_repetitions=3
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.5
  --benchmark_out="$json" --benchmark_out_format=json "$@")
echo "+ ${cmd[*]}" >&2
"${cmd[@]}" >&2

cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
flags="$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'pclmulqdq|avx2|avx512f|sse4_2' |
  tr '\n' ' ')"
kept=""
if [[ -f "$results" ]]; then
  kept="$(sed -n '/^## Interpretation/,$p' "$results")"
fi

JSON="$json" CPU="$cpu" FLAGS="$flags" NPROC="$(nproc)" DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  COMMIT="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$root" status --porcelain 2>/dev/null | grep -qE '^.M (base|ltx|bench)/' && echo ' (with uncommitted changes)' || true)" \
  CMD="${LTXBUS_BENCH_CXXFLAGS:+LTXBUS_BENCH_CXXFLAGS='$LTXBUS_BENCH_CXXFLAGS' }bench/run.sh $*" RUN="${cmd[*]#"$root/"}" KEPT="$kept" python3 - >"$results" <<'PY'
import json, os, re

data = json.load(open(os.environ["JSON"]))
ctx = data["context"]
med = {}
for b in data["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median":
        med[b["run_name"]] = b
    elif b.get("run_type") == "iteration" and b["run_name"] not in med:
        med[b["run_name"]] = b  # a run without repetitions

def mbps(name):
    b = med.get(name)
    return b["bytes_per_second"] / 1e6 if b else None

def fmt(v, spec="{:,.0f}"):
    return "–" if v is None else spec.format(v)

def ratio(name):
    b = med.get(name)
    return b.get("file_ratio") if b else None

sizes = sorted({int(m.group(1)) for n in med if (m := re.match(r"\w+/(\d+)/", n))})
out = []
out.append("# LTX codec benchmarks\n")
out.append("Generated by `bench/run.sh`; do not edit above the Interpretation heading.\n")
out.append("Throughput is **page data** per second (pages × page size), in MB/s "
           "(10^6 bytes), median of 3 repetitions, one core. Pages come from a real "
           "SQLite database built in-process (users and orders: text, integers, JSON, "
           "UUID text, blobs, two indexes; ~16 MiB). Snapshot files; `checksums` "
           "means the header tracks database checksums, so decoding also verifies "
           "the post-apply checksum (a second CRC pass over every page).\n")
out.append(f"* Command: `{os.environ['CMD'].strip()}`, which ran\n  `{os.environ['RUN']}`")
out.append(f"* Machine: {os.environ['NPROC']} CPUs (nproc), {os.environ['CPU']}; "
           f"flags {os.environ['FLAGS'].strip()}")
out.append(f"* Date: {os.environ['DATE']}; commit {os.environ['COMMIT']}{os.environ['DIRTY']}")
extra = ", ".join(f"{k} {ctx[k]}" for k in ("crc64", "lz4", "sqlite") if k in ctx)
out.append(f"* Libraries: {extra}; Google Benchmark library build type: "
           f"{ctx.get('library_build_type', '?')}\n")

for ps in sizes:
    out.append(f"## {ps // 1024} KiB pages\n")
    out.append("| Operation | frame MB/s | block MB/s | block ÷ frame | file ÷ data (frame) | file ÷ data (block) |")
    out.append("|---|---:|---:|---:|---:|---:|")
    rows = [
        ("Encode, checksums", "Encode/{}/{}/checksums"),
        ("Encode, no checksums", "Encode/{}/{}/nochecksums"),
        ("Encode a 2-page transaction's file (one encoder per file)", "EncodeTxn/{}/{}"),
        ("**Decode** (DecodeFile, verified), checksums", "Decode/{}/{}/checksums"),
        ("**Decode** (DecodeFile, verified), no checksums", "Decode/{}/{}/nochecksums"),
        ("LZ4 only (PageCodec decompress)", "Decompress/{}/{}"),
        ("Compact 20 incremental files", "Compact20/{}/{}"),
    ]
    for label, pat in rows:
        f, b = mbps(pat.format(ps, "frame")), mbps(pat.format(ps, "block"))
        rf, rb = ratio(pat.format(ps, "frame")), ratio(pat.format(ps, "block"))
        r = b / f if f and b else None
        out.append(f"| {label} | {fmt(f)} | {fmt(b)} | {fmt(r, '{:.2f}×')} | "
                   f"{fmt(rf, '{:.3f}')} | {fmt(rb, '{:.3f}')} |")
    t, d = mbps(f"Crc64/{ps}/table"), mbps(f"Crc64/{ps}/dispatch")
    out.append("")
    out.append(f"CRC-64/ISO, one call per {ps}-byte page: **{fmt(d)} MB/s** as used "
               f"({ctx.get('crc64', '?')}), {fmt(t)} MB/s slice-by-8 table "
               f"({fmt(d / t if d and t else None, '{:.1f}×')}).\n")

out.append("<details><summary>All medians</summary>\n")
out.append("| Benchmark | MB/s | CPU ns / iteration |")
out.append("|---|---:|---:|")
for name, b in med.items():
    out.append(f"| {name} | {fmt(mbps(name))} | {b['cpu_time']:,.0f} |")
out.append("\n</details>\n")
kept = os.environ.get("KEPT", "").rstrip()
out.append(kept if kept else "## Interpretation\n\n(to be written)")
print("\n".join(out))
PY
echo "wrote $results" >&2

if [[ "$what" == all ]]; then run_producer; fi
