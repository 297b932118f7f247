# test_memcheck.sh - valgrind memcheck on a small 1-rank train, resume and predict: no invalid
# read or write, no use of uninitialized memory, no definite leak (Open MPI's own init-time
# allocations suppressed by mbatch.supp). Skipped (exit 77) without valgrind.
source "$(dirname "$0")/../e2e/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
vg() {
    valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$SRC_DIR/tests/valgrind/mbatch.supp" --num-callers=40 -q "$MBATCH" "$@"
}
"$MBATCH" gen --kind softmax --classes 3 --rows 600 --cols 4 --seed 2 --out data.h5 >/dev/null
job j.json '{"dataset": {"path": "data.h5"}, "model": {"type": "softmax"}, "epochs": 3,
  "batch": {"size": 100}, "optimizer": {"type": "adam", "lr": 0.05},
  "checkpoint": {"every_epochs": 1, "every_steps": 4, "keep": 2}}'
for step in "train j.json --quiet --set epochs=2" "train j.json --quiet --resume" \
            "predict --model runs/j/model.h5 --data data.h5 --out pred.h5"; do
    rc=0
    # shellcheck disable=SC2086
    vg $step >out.txt 2>err.txt || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat err.txt >&2
        fail "valgrind: mbatch $step: exit $rc"
    fi
    echo "ok: memcheck clean: mbatch $step"
done
echo PASSED
