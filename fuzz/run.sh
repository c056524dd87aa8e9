#!/usr/bin/env bash
# Runs one fuzz target with libFuzzer for SECONDS seconds, with sane limits, and prints the
# executions, coverage and crashes at the end.
#
# Usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags…]   fuzz for SECONDS (one core)
#        fuzz/run.sh --merge TARGET                     minimise the grown corpus into fuzz/corpus
#                                                       (its smallest inputs, 768 KiB at most)
#        fuzz/run.sh --list                             list the targets
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); works on a stable toolchain without
# sanitizers (the default, SANITIZER=none). SANITIZER=address builds with AddressSanitizer
# through RUSTC_BOOTSTRAP=1 (slower; the crate itself has no unsafe code).
# Inputs grow in fuzz/corpus-work/TARGET (not committed); crashes, hangs and out-of-memory
# inputs land in fuzz/artifacts/TARGET/, logs in fuzz/logs/. Replay one with
#   fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-…
# and keep it as a regression input in fuzz/regressions/TARGET/ (tests/fuzz_corpora.rs replays those).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v scoregeo-fuzz)
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then echo "$targets"; exit 0; fi
merge=0
if [ "$1" = "--merge" ]; then merge=1; shift; fi
target="${1:-}"
echo "$targets" | grep -qx "$target" || { echo "unknown target '$target'; one of:" $targets >&2; exit 2; }

sanitizer="${SANITIZER:-none}"
if [ "$sanitizer" != none ]; then export RUSTC_BOOTSTRAP=1; fi
(cd "$fuzz" && cargo fuzz build --sanitizer "$sanitizer" "$target")
bin="$fuzz/target/x86_64-unknown-linux-gnu/release/$target"

# text formats stay small; binary ones need room for a model or a checkpoint
case "$target" in
  csv|manifest) max_len=8192 ;;
  *) max_len=65536 ;;
esac
limits=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_len="$max_len")
work="$fuzz/corpus-work/$target"
kept="$fuzz/corpus/$target"
mkdir -p "$work" "$kept" "$fuzz/artifacts/$target" "$fuzz/logs"

if [ "$merge" = 1 ]; then
  # the seeds and every grown input, reduced to a minimal set with the same coverage
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$bin" -merge=1 "${limits[@]}" "$tmp" "$kept" "$fuzz/seeds/$target" "$work" 2>&1 | tail -3
  rm -rf "$kept" && mv "$tmp" "$kept" && trap - EXIT
  # the committed corpus stays small: its smallest inputs up to 768 KiB per target
  total=0
  for f in $(ls -Sr "$kept"); do
    size=$(stat -c %s "$kept/$f")
    if (( total + size > 786432 )); then rm "$kept/$f"; else total=$((total + size)); fi
  done
  echo "$kept: $(ls "$kept" | wc -l) inputs, $(du -sh "$kept" | cut -f1)"
  exit 0
fi

seconds="${2:-}"
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
shift 2
log="$fuzz/logs/$target-$(date +%Y%m%d-%H%M%S).log"
before=$(ls "$fuzz/artifacts/$target" | wc -l)
set +e
"$bin" "$work" "$kept" "$fuzz/seeds/$target" "${limits[@]}" \
  -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$fuzz/artifacts/$target/" "$@" > "$log" 2>&1
status=$?
set -e
after=$(ls "$fuzz/artifacts/$target" | wc -l)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
echo "target $target: ${seconds} s, ${execs:-?} executions (${speed:-?}/s), coverage ${cov:-?} edges, ${ft:-?} features, corpus $(ls "$work" | wc -l) inputs"
echo "new artifacts (crashes, timeouts, out-of-memory): $((after - before)) in $fuzz/artifacts/$target; log $log"
if [ "$status" -ne 0 ]; then
  grep -E 'ERROR: libFuzzer|panicked at|SUMMARY' "$log" | head -5
  exit "$status"
fi
