# test_ckpt_faults.sh - checkpoint writes that fail (injected ENOSPC, EIO, failed fsync and
# rename) and checkpoints that rot on disk: every rank agrees, the temporary is gone, the previous
# checkpoints are untouched and verify, exit 3 (or go on with checkpoint.on_error = "warn"); a
# corrupt or truncated newest checkpoint makes --resume fall back to the previous one and still
# end bitwise equal to an uninterrupted run; none valid is an error that deletes nothing.
source "$(dirname "$0")/lib.sh"
check() { "$PYTHON" "$SRC_DIR/tests/e2e/ckpt_check.py" "$@"; }

"$MBATCH" gen --kind logistic --rows 2000 --cols 5 --seed 3 --out data.h5 >/dev/null
job j.json '{"dataset": {"path": "data.h5"}, "epochs": 4, "batch": {"size": 200},
  "optimizer": {"lr": 0.3, "momentum": 0.9}, "checkpoint": {"every_epochs": 1, "keep": 0}}'
mb 2 train j.json --quiet --set run_dir=ref >/dev/null

# No temporaries, and exactly the checkpoints of steps in $2.. present and valid.
state_is() {
    local dir=$1
    shift
    local tmp
    tmp=$(ls -A "$dir/checkpoints" | grep -c '\.tmp-' || true)
    [ "$tmp" -eq 0 ] || fail "$dir: a temporary checkpoint was left behind: $(ls -A "$dir/checkpoints")"
    local want have
    want=$(for s in "$@"; do echo "ckpt-$s.h5"; done | sort | tr '\n' ' ')
    have=$(ls "$dir/checkpoints" | sort | tr '\n' ' ')
    [ "$want" = "$have" ] || fail "$dir: checkpoints are '$have', expected '$want'"
    check "$dir"/checkpoints/*.h5 >/dev/null || { check "$dir"/checkpoints/*.h5; fail "$dir: a checkpoint does not verify"; }
}

# The third checkpoint write (step 27) fails in each way: exit 3, ckpt-9 and ckpt-18 untouched.
for f in "ckpt_write:ENOSPC@3/No space left on device" "ckpt_fsync:EIO@3/fsync failed" \
         "ckpt_rename:EIO@3/rename to" "ckpt_create:EDQUOT@3/Disk quota exceeded"; do
    fault=${f%%/*} msg=${f#*/} dir=f-${fault%%:*}
    MBATCH_FAULT=$fault expect 3 "$msg" 2 train j.json --quiet --set run_dir=$dir
    state_is "$dir" 9 18
    [ ! -e "$dir/model.h5" ] || fail "$dir: model.h5 written after a failed checkpoint"
done
# The failure on a rank that is not the writer still ends every rank the same way.
grep -q "^mbatch: .*ckpt-27.h5" err.txt || fail "the message does not name the checkpoint"

# With checkpoint.on_error = "warn" the run goes on and ends with the same model.
MBATCH_FAULT=ckpt_write:ENOSPC@2 mb 2 train j.json --quiet --set run_dir=warn \
    --set checkpoint.on_error=warn >out.txt 2>err.txt || { cat err.txt; fail "warn mode failed"; }
[ "$(grep -c 'warning: .*No space left on device.*going on' err.txt)" -eq 1 ] ||
    { cat err.txt; fail "expected one warning"; }
state_is warn 9 27 36

# Bit rot in the newest checkpoint, then a truncated newest one: resume falls back and still ends
# bitwise equal to the uninterrupted run.
mb 2 train j.json --quiet --set run_dir=rot --set epochs=3 >/dev/null
"$PYTHON" - <<'PY'
import h5py
with h5py.File("rot/checkpoints/ckpt-27.h5", "r") as f:
    off = f["model/theta"].id.get_offset()
with open("rot/checkpoints/ckpt-27.h5", "r+b") as g:
    g.seek(off + 3)
    b = g.read(1)
    g.seek(off + 3)
    g.write(bytes([b[0] ^ 0x10]))
PY
check rot/checkpoints/ckpt-27.h5 >/dev/null && fail "the oracle did not see the flipped bit"
mb 2 train j.json --set run_dir=rot --resume >out.txt 2>err.txt || { cat err.txt; fail "resume after bit rot failed"; }
grep -q "warning: .*ckpt-27.h5: dataset 'model/theta' is corrupt: checksum" err.txt || { cat err.txt; fail "no warning about the corrupt checkpoint"; }
grep -q "resuming from rot/checkpoints/ckpt-18.h5" out.txt || { cat out.txt; fail "did not fall back to ckpt-18"; }

mb 2 train j.json --quiet --set run_dir=trunc --set epochs=3 >/dev/null
truncate -s 3000 trunc/checkpoints/ckpt-27.h5
mb 2 train j.json --set run_dir=trunc --resume >out.txt 2>err.txt || { cat err.txt; fail "resume after truncation failed"; }
grep -q "warning: .*ckpt-27.h5" err.txt || { cat err.txt; fail "no warning about the truncated checkpoint"; }
grep -q "resuming from trunc/checkpoints/ckpt-18.h5" out.txt || { cat out.txt; fail "did not fall back"; }

"$PYTHON" - <<'PY'
import h5py, numpy as np
def theta(d):
    with h5py.File(d + "/model.h5", "r") as f:
        return f["model/theta"][()]
for d in ("rot", "trunc", "warn"):
    same = np.array_equal(theta("ref").view(np.uint64), theta(d).view(np.uint64))
    print("%s: bitwise equal to the uninterrupted run: %s" % (d, same))
    assert same
PY

# No valid checkpoint at all: a clear error, exit 3, nothing deleted.
mb 2 train j.json --quiet --set run_dir=none --set epochs=2 >/dev/null
for f in none/checkpoints/*.h5; do printf 'garbage' >"$f"; done
before=$(ls none/checkpoints | tr '\n' ' ')
expect 3 "none of its 2 checkpoints is valid.*nothing was deleted" 2 train j.json --set run_dir=none --resume
[ "$(ls none/checkpoints | tr '\n' ' ')" = "$before" ] || fail "files were deleted"

# A checkpoint is never written with a non-finite value, even when steps are skipped.
MBATCH_FAULT=grad_nan@5/1 mb 2 train j.json --quiet --set run_dir=skip --set on_nonfinite=skip \
    >out.txt 2>err.txt || { cat err.txt; fail "on_nonfinite=skip failed"; }
[ "$(grep -c 'step 5: .*step skipped (on_nonfinite = "skip"; 1 skipped so far)' err.txt)" -eq 1 ] ||
    { cat err.txt; fail "expected one skipped-step warning"; }
check skip/checkpoints/*.h5 skip/model.h5 >/dev/null || fail "skip: a checkpoint does not verify"
MBATCH_FAULT=grad_nan@5/1 expect 4 "epoch 1 step 5: the training loss is .* and the gradient norm nan" 2 train j.json \
    --quiet --set run_dir=nan
echo PASSED
