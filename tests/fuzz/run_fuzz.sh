# run_fuzz.sh TARGET - build the libFuzzer harness fuzz_TARGET.c with clang, ASan and UBSan (the
# project sources it exercises compiled in, instrumented) and fuzz for MBATCH_FUZZ_SECONDS (50)
# from the seed corpus tests/fuzz/corpus_TARGET (copied: new inputs stay in the work dir).
# Exit 77 (ctest: skipped) when clang or its libFuzzer runtime is not installed.
set -euo pipefail
target=$1
: "${SRC_DIR:?}"
seconds=${MBATCH_FUZZ_SECONDS:-50}
work="${WORK_DIR:-/tmp/mbatch-fuzz}/fuzz_$target"
rm -rf "$work"
mkdir -p "$work/corpus"
cd "$work"
if ! command -v clang >/dev/null; then
    echo "clang is not installed: skipped (CI installs clang and libclang-rt-14-dev)"
    exit 77
fi
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' >probe.c
if ! clang -fsanitize=fuzzer probe.c -o probe 2>/dev/null; then
    echo "clang has no libFuzzer runtime (libclang-rt-14-dev): skipped"
    exit 77
fi

flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -std=c11 -D_POSIX_C_SOURCE=200809L
       -DMBATCH_VERSION=\"fuzz\" -I"$SRC_DIR/include" -I"$SRC_DIR/src")
case "$target" in
job)
    sources=("$SRC_DIR/src/job/job.c" "$SRC_DIR/src/core/error.c")
    libs=($(pkg-config --cflags --libs jansson))
    options=()
    ;;
dataset)
    sources=("$SRC_DIR/src/io/dataset.c" "$SRC_DIR/src/io/h5util.c" "$SRC_DIR"/src/comm/*.c
             "$SRC_DIR"/src/core/*.c)
    libs=($(pkg-config --cflags --libs hdf5-openmpi openblas) -lm)
    # Open MPI and HDF5 keep allocations for the life of the process (they show as leaks at
    # exit); the job harness, which has neither, keeps leak detection on.
    options=(-detect_leaks=0)
    export ASAN_OPTIONS=detect_leaks=0
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
    ;;
*)
    echo "unknown fuzz target '$target'" >&2
    exit 2
    ;;
esac
clang "${flags[@]}" "$SRC_DIR/tests/fuzz/fuzz_$target.c" "${sources[@]}" "${libs[@]}" -o "fuzz_$target"
cp "$SRC_DIR/tests/fuzz/corpus_$target"/* corpus/
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One process; libFuzzer stops at the first crash, sanitizer report or failed property (abort).
"./fuzz_$target" corpus -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 "${options[@]}" 2>&1 | tail -25
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || { echo "FAILED: fuzz_$target exited $rc; the input is in $work"; exit 1; }
echo "PASSED: fuzz_$target ran ${seconds}s without a finding ($(ls corpus | wc -l) corpus inputs)"
