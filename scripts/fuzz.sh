#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of every decoder of untrusted bytes.
#
#   scripts/fuzz.sh [--update-corpus] [TARGET|all] [SECONDS]
#
# TARGET is vectors, query, configuration, checkpoint or statistics (default all); SECONDS is the fuzzing
# time per target (default 30). Each target is built from the library sources it exercises,
# compiled straight into the fuzzer with `swiftc -sanitize=fuzzer,address`, into .build-fuzz/.
# It then runs from a temporary copy of Tests/Fuzz/Corpus/TARGET/, so the checkout is never
# touched; with --update-corpus, inputs that add coverage are merged back into that directory.
#
# Inputs under Tests/Fuzz/Crashes/TARGET/ (earlier crashes) are replayed first and must run
# clean. A crash (a trap on a broken invariant, a sanitizer report), a leak, an input slower
# than 5 s, or more than 2 GiB of memory fails the run: the script exits non-zero and prints
# the reproducer. Replay one with `.build-fuzz/bin/fuzz-TARGET FILE`.
#
# Extra libFuzzer flags go in FUZZ_FLAGS, e.g. FUZZ_FLAGS="-seed=1" (repeatable) or
# FUZZ_FLAGS="-fork=2" (two processes). Needs swift-numerics' checkout (`swift build` or
# `swift package resolve` makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build-fuzz
ALL_TARGETS=(vectors query configuration checkpoint statistics)

update=0
args=()
for a in "$@"; do
    case "$a" in
        --update-corpus) update=1 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$a") ;;
    esac
done
which_target=${args[0]:-all}
seconds=${args[1]:-30}
if [[ $which_target == all ]]; then
    targets=("${ALL_TARGETS[@]}")
else
    case " ${ALL_TARGETS[*]} " in
        *" $which_target "*) targets=("$which_target") ;;
        *) echo "fuzz.sh: unknown target '$which_target' (one of: ${ALL_TARGETS[*]}, all)" >&2; exit 2 ;;
    esac
fi
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || { echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }

mkdir -p "$OUT/modules" "$OUT/bin" "$OUT/src" "$OUT/artifacts"
FUZZ=(-O -sanitize=fuzzer,address -parse-as-library)
# Let libFuzzer and ASan report a trap (stack, reproducer), not Swift's own backtracer.
export SWIFT_BACKTRACE=enable=no
log() { echo "fuzz.sh: $*" >&2; }

# True when $1 is missing or older than any of the remaining files.
stale() {
    local target=$1; shift
    [[ -e $target ]] || return 0
    local f
    for f in "$@"; do [[ $f -nt $target ]] && return 0; done
    return 1
}

# swift-numerics' RealModule (Clustering imports it), from SwiftPM's checkout.
NUMERICS=$ROOT/.build/checkouts/swift-numerics/Sources
if [[ ! -d $NUMERICS/RealModule ]]; then
    log "resolving packages for swift-numerics' sources"
    swift package resolve >&2
fi
SHIMS=$NUMERICS/_NumericsShims/include
# The core's own C header (a vector compare read as a bit mask), with its module map.
KERNEL_SHIMS=$ROOT/Sources/CKernelShims/include
# OpenBLAS's module map (the screened distances call it; the decoders never do).
BLAS_MODULE=$ROOT/Sources/COpenBLAS
build_modules() {
    local real=("$NUMERICS"/RealModule/*.swift)
    if stale "$OUT/modules/RealModule.o" "${real[@]}"; then
        log "building RealModule"
        swiftc -O -wmo -parse-as-library -module-name RealModule -I "$SHIMS" \
            -emit-module -emit-module-path "$OUT/modules/RealModule.swiftmodule" \
            -c -o "$OUT/modules/RealModule.o" "${real[@]}"
    fi
    # Clustering is instrumented (coverage + ASan): the checkpoint codec lives in it. Its C
    # kernels are built alongside (the decoders never call them, but the module links them).
    local clustering=("$ROOT"/Sources/Clustering/*.swift)
    if stale "$OUT/modules/Clustering.o" "${clustering[@]}" "$KERNEL_SHIMS"/* "$OUT/modules/RealModule.o"; then
        log "building Clustering (instrumented)"
        swiftc "${FUZZ[@]}" -wmo -module-name Clustering -I "$OUT/modules" -I "$SHIMS" -I "$KERNEL_SHIMS" -I "$BLAS_MODULE" \
            -emit-module -emit-module-path "$OUT/modules/Clustering.swiftmodule" \
            -c -o "$OUT/modules/Clustering.o" "${clustering[@]}"
    fi
    for c in CKernels CRC32C Memory; do
        if stale "$OUT/modules/$c.o" "$ROOT/Sources/CKernelShims/$c.c" "$KERNEL_SHIMS"/*; then
            clang -O2 -c -I "$KERNEL_SHIMS" -o "$OUT/modules/$c.o" "$ROOT/Sources/CKernelShims/$c.c"
        fi
    done
}

# Sources, linked objects and libFuzzer settings of each target.
sources_of() {
    case $1 in
        vectors) echo Tests/Fuzz/FuzzVectors.swift Tests/Fuzz/WireFuzzSupport.swift Sources/Wire/*.swift ;;
        query) echo Tests/Fuzz/FuzzQuery.swift Tests/Fuzz/WireFuzzSupport.swift Sources/Wire/*.swift ;;
        configuration) echo Tests/Fuzz/FuzzConfiguration.swift Sources/Daemon/Configuration/ConfigurationReader.swift \
            Sources/Daemon/Configuration/DaemonConfiguration.swift Sources/Daemon/Configuration/HTTPAddress.swift ;;
        checkpoint) echo Tests/Fuzz/FuzzCheckpoint.swift ;;
        statistics) echo Tests/Fuzz/FuzzStatistics.swift Sources/Daemon/Cluster/StatisticsMessage.swift \
            Sources/Daemon/Cluster/ModelMessage.swift Sources/Daemon/Cluster/StatisticsMerger.swift ;;
    esac
}
needs_clustering() { [[ $1 == configuration || $1 == checkpoint || $1 == statistics ]]; }
max_len_of() { case $1 in configuration) echo 8192 ;; *) echo 4096 ;; esac; }
dict_of() { case $1 in vectors|query) echo Tests/Fuzz/Dictionaries/wire.dict ;; *) echo "Tests/Fuzz/Dictionaries/$1.dict" ;; esac; }

build_target() {
    local t=$1 bin=$OUT/bin/fuzz-$1 src
    local flags=() objects=()
    if needs_clustering "$t"; then
        build_modules
        flags=(-I "$OUT/modules" -I "$SHIMS" -I "$KERNEL_SHIMS" -I "$BLAS_MODULE" -lopenblas)
        objects=("$OUT/modules/Clustering.o" "$OUT/modules/RealModule.o" "$OUT/modules/CKernels.o" "$OUT/modules/CRC32C.o" "$OUT/modules/Memory.o")
    fi
    read -r -a src <<< "$(sources_of "$t")"
    if stale "$bin" "${src[@]}" "${objects[@]}"; then
        log "building fuzz-$t"
        rm -f "$bin"
        # The linker warns "Cannot export local symbol '__asan_…'" for every module: harmless.
        local status=0
        swiftc "${FUZZ[@]}" -module-name "Fuzz_$t" -o "$bin" "${flags[@]}" "${src[@]}" "${objects[@]}" \
            > "$OUT/$t.build.log" 2>&1 || status=$?
        grep -v "Cannot export local symbol" "$OUT/$t.build.log" >&2 || true
        [[ $status -eq 0 && -x $bin ]] || { rm -f "$bin"; log "build of fuzz-$t failed"; exit 1; }
    fi
}

run_target() {
    local t=$1 bin=$OUT/bin/fuzz-$1 corpus=$ROOT/Tests/Fuzz/Corpus/$1
    local work artifacts=$OUT/artifacts/$t
    # Known crashes first: each must now run clean (Tests/Fuzz/Crashes/README.md).
    local crash crashes=()
    for crash in "$ROOT/Tests/Fuzz/Crashes/$t"/*; do [[ -f $crash ]] && crashes+=("$crash"); done
    if [[ ${#crashes[@]} -gt 0 ]]; then
        log "replaying ${#crashes[@]} earlier crash input(s) of $t"
        for crash in "${crashes[@]}"; do
            if ! "$bin" -error_exitcode=77 -timeout=5 -rss_limit_mb=2048 "$crash" > "$OUT/$t.replay.log" 2>&1; then
                log "FAILED: $t still crashes on ${crash#"$ROOT"/}:"
                grep -E "Fatal error|ERROR: |^ +#[0-9]+ .* in [\$]s" "$OUT/$t.replay.log" | head -6 \
                    | { swift demangle --simplified 2>/dev/null || cat; } >&2
                return 1
            fi
        done
    fi
    work=$(mktemp -d "$OUT/run-$t.XXXXXX")
    mkdir -p "$corpus" "$artifacts"
    cp -R "$corpus/." "$work/"
    log "fuzzing $t for ${seconds}s ($(ls "$work" | wc -l) corpus inputs)"
    local status=0
    # shellcheck disable=SC2086
    "$bin" "$work" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len="$(max_len_of "$t")" -dict="$(dict_of "$t")" -error_exitcode=77 -timeout_exitcode=70 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_FLAGS:-} > "$OUT/$t.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$OUT/$t.log" | sed "s/^/  $t: /" >&2 || true
    if [[ $status -ne 0 ]]; then
        log "FAILED: $t (libFuzzer exit status $status); last lines of $OUT/$t.log:"
        grep -v "^#[0-9]" "$OUT/$t.log" | tail -40 >&2
        local repro
        repro=$(grep -o "Test unit written to .*" "$OUT/$t.log" | sed 's/Test unit written to //' | tail -1)
        [[ -n $repro ]] && log "reproducer: $repro (replay: $bin $repro)"
        rm -rf "$work"
        return 1
    fi
    if [[ $update -eq 1 ]]; then
        local before after
        before=$(ls "$corpus" | wc -l)
        "$bin" -merge=1 -max_len="$(max_len_of "$t")" "$corpus" "$work" > "$OUT/$t.merge.log" 2>&1 \
            || { log "merge into $corpus failed; see $OUT/$t.merge.log"; rm -rf "$work"; return 1; }
        after=$(ls "$corpus" | wc -l)
        log "$t: corpus $before -> $after inputs ($(du -sb "$corpus" | cut -f1) bytes)"
    fi
    rm -rf "$work"
}

failed=()
for t in "${targets[@]}"; do build_target "$t"; done
for t in "${targets[@]}"; do run_target "$t" || failed+=("$t"); done
if [[ ${#failed[@]} -gt 0 ]]; then
    log "failing targets: ${failed[*]}"
    exit 1
fi
log "no crash, leak, timeout or OOM in: ${targets[*]}"
