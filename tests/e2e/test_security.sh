# test_security.sh - outputs follow the umask; a symlink planted at a checkpoint, model, temporary
# or lock path is never written through; a second writer of a run directory is refused, naming
# the first; environment values never reach logs or files.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 2000 --cols 5 --seed 3 --out data.h5 >/dev/null
job j.json '{"dataset": {"path": "data.h5"}, "epochs": 3, "batch": {"size": 500},
  "checkpoint": {"every_epochs": 1, "keep": 0}}'

# ---- the umask decides the permissions of everything written ----
for mask in 077 027 022; do
    (umask $mask && mb 2 train j.json --quiet --set run_dir=u$mask >/dev/null &&
        mb 2 predict --model u$mask/model.h5 --data data.h5 --out u$mask/pred.h5 >/dev/null)
    "$PYTHON" - u$mask $mask <<'PY'
import os, stat, sys
top, mask = sys.argv[1], int(sys.argv[2], 8)
n = 0
for root, dirs, files in os.walk(top):
    for name in dirs + files:
        p = os.path.join(root, name)
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        want = (0o777 if os.path.isdir(p) else 0o666) & ~mask
        assert mode == want, "%s: mode %o, umask %o wants %o" % (p, mode, mask, want)
        n += 1
print("umask %03o: %d files and directories, all with the modes it allows" % (mask, n))
PY
done

# ---- symlinks planted where mbatch writes ----
printf 'precious\n' >victim.txt
mkdir -p sym/checkpoints
ln -s ../../victim.txt sym/checkpoints/ckpt-4.h5
ln -s ../victim.txt sym/model.h5
# Temporaries are named .ckpt-<step>.h5.tmp-<pid>: plant them for the next few thousand pids.
last=$(cat /proc/sys/kernel/ns_last_pid 2>/dev/null || echo 0)
span=5000
"$PYTHON" -c "
import os
for pid in range($last + 1, $last + $span + 1):
    os.symlink('../../victim.txt', 'sym/checkpoints/.ckpt-4.h5.tmp-%d' % pid)"
mb 2 train j.json --quiet --set run_dir=sym >/dev/null
[ "$(cat victim.txt)" = precious ] || fail "a write went through a planted symlink"
for f in sym/model.h5 sym/checkpoints/ckpt-4.h5 sym/checkpoints/ckpt-12.h5; do
    [ -f "$f" ] && [ ! -L "$f" ] || fail "$f is not a regular file"
done
"$PYTHON" "$SRC_DIR/tests/e2e/ckpt_check.py" sym/model.h5 sym/checkpoints/ckpt-*.h5 >/dev/null ||
    fail "the checkpoints written over symlinks do not verify"
writer=$(sed -n 's/^pid \([0-9]*\) on host .*/\1/p' sym/.lock)
if [ -n "$writer" ] && [ "$writer" -gt "$last" ] && [ "$writer" -le $((last + span)) ]; then
    [ ! -e "sym/checkpoints/.ckpt-4.h5.tmp-$writer" ] || fail "the planted temporary is still there"
    echo "ok: the writer (pid $writer) met symlinks at its temporary names and removed them"
else
    echo "note: the writer's pid $writer fell outside the planted range; temporaries not exercised"
fi
echo "ok: symlinks at checkpoint, model and temporary paths were replaced, never followed"

mkdir -p lk
ln -s ../victim.txt lk/.lock
expect 3 "lk/.lock: cannot open the run directory's lock: it is a symbolic link" 2 train j.json \
    --quiet --set run_dir=lk
[ "$(cat victim.txt)" = precious ] || fail "the lock followed a symlink"

# ---- one writer per run directory ----
job slow.json '{"dataset": {"path": "data.h5"}, "epochs": 1000000, "batch": {"size": 10},
  "checkpoint": {"every_epochs": 0}}'
"$MPIEXEC" -n 1 "$MBATCH" train slow.json --quiet --set run_dir=busy >/dev/null 2>&1 &
first=$!
for _ in $(seq 200); do [ -e busy/metrics.h5 ] && break; sleep 0.05; done
[ -e busy/metrics.h5 ] || { kill "$first"; fail "the first writer did not start"; }
holder=$(cat busy/.lock)
rc=0
mb 2 train j.json --quiet --set run_dir=busy >out.txt 2>err.txt || rc=$?
# The first writer dies the hard way: SIGKILL to the rank (mpiexec then ends too).
kill -KILL "$(sed -n 's/^pid \([0-9]*\) on host .*/\1/p' busy/.lock)"
wait "$first" || true
[ "$rc" -eq 1 ] || { cat err.txt; fail "second writer: exit $rc, expected 1"; }
grep -q "^mbatch: busy is in use by another mbatch ($holder); wait for it" err.txt ||
    { cat err.txt; fail "the refusal does not name the holder ($holder)"; }
echo "ok: second writer refused: $(grep '^mbatch: busy' err.txt)"
# The first writer's death released the lock: the run directory can be resumed.
mb 2 train j.json --quiet --set run_dir=busy >/dev/null || fail "lock not released by a dead writer"

# ---- environment values stay out of logs and files ----
export MBATCH_TEST_SECRET="tok-$RANDOM$RANDOM-do-not-log"
export MBATCH_FAULT="" MBATCH_PROGRESS=plain
mb 2 train j.json --set run_dir=env >env.out 2>env.err
mb 2 predict --model env/model.h5 --data data.h5 --out env/pred.h5 >>env.out 2>>env.err
MBATCH_TEST_SECRET=x expect 1 "unknown key" 1 train j.json --set no.such=1 >/dev/null
if grep -rqa "$MBATCH_TEST_SECRET" env env.out env.err; then fail "an environment value was written out"; fi
echo "ok: the secret in the environment appears in no output file or log"
echo PASSED
