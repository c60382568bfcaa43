#!/usr/bin/env bash
# Runs the cargo fuzz targets of fuzz/ (see fuzz/README.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   build, then run each target for SECONDS (default 60)
#   scripts/fuzz.sh cmin [TARGET...]        merge what the runs found (inputs up to
#                                           FUZZ_CMIN_MAX_BYTES, default 512) into
#                                           fuzz/corpus/<target>, minimised (libFuzzer -merge=1)
#
# Seeds come from fuzz/corpus/<target> (committed, read-only during a run); new inputs go to
# fuzz/target/corpus/<target>, crashes to fuzz/artifacts/<target>/, logs to
# fuzz/target/logs/<target>.log. Prints per target: executions, exec/s, cov and ft (libFuzzer's
# last status line) and crashes.
#
# Environment: FUZZ_JOBS (targets at once, default 1), FUZZ_SANITIZER (default none: the code
# under test is safe Rust; "address" doubles the build and halves the speed), FUZZ_NICE
# (default 19). Needs a nightly toolchain and cargo-fuzz (installed when missing).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
export CARGO_INCREMENTAL=0
jobs="${FUZZ_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-none}"
niceness="${FUZZ_NICE:-19}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$fuzz"
fuzz_cmd=(nice -n "$niceness" cargo +nightly fuzz)
build_flags=(-s "$sanitizer" -a)

mode=run
if [[ "${1:-}" == cmin ]]; then
    mode=cmin
    max_bytes="${FUZZ_CMIN_MAX_BYTES:-512}"
    shift
    secs=0
else
    secs="${1:-60}"
    shift || true
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

mkdir -p target/logs
if ! "${fuzz_cmd[@]}" build "${build_flags[@]}" >target/logs/build.log 2>&1; then
    tail -40 target/logs/build.log
    exit 1
fi

if [[ $mode == cmin ]]; then
    for t in "${targets[@]}"; do
        seeds="corpus/$t" found="target/cmin-in/$t" merged="target/merged/$t"
        mkdir -p "$seeds" "target/corpus/$t"
        rm -rf "$merged" "$found" && mkdir -p "$merged" "$found"
        # Only small finds join the committed corpus, so that it stays a few hundred KB.
        find "target/corpus/$t" -type f -size -"$((max_bytes + 1))"c -exec cp {} "$found" \;
        "${fuzz_cmd[@]}" run "${build_flags[@]}" "$t" "$merged" "$seeds" "$found" -- \
            -merge=1 >"target/logs/$t.cmin.log" 2>&1
        rm -rf "$seeds" && mv "$merged" "$seeds"
        printf '%-18s %5d files %8d bytes\n' "$t" "$(ls "$seeds" | wc -l)" \
            "$(cat "$seeds"/* 2>/dev/null | wc -c)"
    done
    exit 0
fi

run_one() {
    local t="$1" log="target/logs/$1.log"
    mkdir -p "corpus/$t" "target/corpus/$t" "artifacts/$t"
    local before
    before="$(ls "artifacts/$t" | wc -l)"
    set +e
    "${fuzz_cmd[@]}" run "${build_flags[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1
    local rc=$?
    set -e
    local after
    after="$(ls "artifacts/$t" | wc -l)"
    echo "$rc $((after - before))" >"target/logs/$t.result"
}

running=0
for t in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait || true

printf '%-18s %6s %12s %8s %7s %7s %8s\n' target secs executions exec/s cov ft crashes
for t in "${targets[@]}"; do
    log="target/logs/$t.log"
    read -r rc crashes <"target/logs/$t.result"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    last="$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)"
    cov="$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    if [[ $rc != 0 && $crashes == 0 ]]; then crashes="rc=$rc"; fi
    printf '%-18s %6s %12s %8s %7s %7s %8s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "$crashes"
done
