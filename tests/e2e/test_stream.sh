# test_stream.sh - streaming mode (data over io.memory_budget): full-batch training that reads
# each rank's rows block by block gives model.h5 weights bitwise equal to the in-memory run at 1-4
# ranks, through a mapping (float64 /X), pread (float32 file, columns layout) and through HDF5 (a
# chunked, gzip-compressed copy), both with the standardized copy (io.stream_cache, the default:
# written once, mapped) and without it (io.stream_cache=none: every epoch reads the blocks again);
# mini-batch jobs (float64/float32, shuffled rows or blocks, logistic/softmax, matrix or columns
# layout), threads, the lbfgs, newton and exact (cholesky) solvers and the mlp use the
# standardized copy with the same bitwise result; a streamed resume, full batch or mid-epoch
# mini-batch, equals an uninterrupted run; an unwritable cache directory falls back with a warning
# (full batch) or stops the job (mini-batch); jobs that cannot stream and budgets too small to
# stream are refused.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 6000 --cols 6 --seed 4 --out lg.h5 >/dev/null
"$MBATCH" gen --kind linear --rows 5000 --cols 5 --dtype float32 --seed 5 --out ln32.h5 >/dev/null
"$MBATCH" gen --kind softmax --classes 3 --rows 4000 --cols 4 --seed 6 --out sm.h5 >/dev/null
"$MBATCH" gen --kind logistic --rows 5000 --cols 5 --layout columns --seed 7 \
    --out cols.h5 >/dev/null
# The same logistic data stored chunked and compressed: no file offsets, HDF5 reads the blocks.
"$PYTHON" - <<'PY'
import h5py
with h5py.File("lg.h5", "r") as a, h5py.File("lgz.h5", "w") as b:
    for k in ("X", "y"):
        b.create_dataset(k, data=a[k][()], chunks=(500,) + a[k].shape[1:], compression="gzip")
PY

job lg.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"type": "adam", "lr": 0.05}, "batch": {"size": "full"}, "epochs": 6}'
job lgz.json '{"dataset": {"path": "lgz.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"type": "adam", "lr": 0.05}, "batch": {"size": "full"}, "epochs": 6}'
job ln.json '{"dataset": {"path": "ln32.h5"}, "model": {"type": "linear"},
  "optimizer": {"type": "sgd", "lr": 0.2, "momentum": 0.9}, "batch": {"size": "full"},
  "epochs": 6, "dtype": "float32"}'
job sm.json '{"dataset": {"path": "sm.h5"}, "model": {"type": "softmax"},
  "optimizer": {"type": "sgd", "lr": 0.5}, "batch": {"size": "full"}, "epochs": 5,
  "dtype": "float32"}'
job mlp.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "mlp", "hidden": [16, 8]},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 64}, "epochs": 3}'
job cols.json '{"dataset": {"path": "cols.h5", "group": "/data",
  "features": ["x3", "x0", "x4", "x1"], "target": "y"}, "model": {"type": "logistic"},
  "optimizer": {"type": "sgd", "lr": 0.5}, "batch": {"size": "full"}, "epochs": 5}'

# A budget far under the in-memory need (rows x ((columns + 1) x 16 + 64) bytes) that still holds the
# validation rows: 80 kB + 20 kB per rank, blocks of a few dozen to a few hundred rows, at least 4 per rank.
pair() { # [BUDGET=bytes] pair NAME NP JOB [--set ...]: the in-memory and the streamed run
    local name=$1 np=$2 jf=$3
    shift 3
    mb "$np" train "$jf" --quiet --set run_dir="mem-$name" "$@" >"mem-$name.log"
    ! grep -q "^mbatch: streaming " "mem-$name.log" || fail "$name: the in-memory run streamed"
    mb "$np" train "$jf" --set run_dir="str-$name" \
        --set io.memory_budget="${BUDGET:-$((80000 + 20000 * np))}" "$@" >"$name.log"
    grep -q "^mbatch: streaming " "$name.log" || fail "$name: did not stream"
    local least
    least=$(sed -nE 's/^mbatch: streaming .* ([0-9]+) to [0-9]+ blocks.*/\1/p' "$name.log")
    [ "$least" -ge 4 ] || fail "$name: only $least blocks on some rank"
    echo "$name: $(grep '^mbatch: streaming' "$name.log" | sed 's/^mbatch: streaming [^:]*: //')"
}
for np in 1 2 3 4; do
    pair "lg-np$np" "$np" lg.json
    pair "lgz-np$np" "$np" lgz.json
    pair "lgn-np$np" "$np" lg.json --set io.stream_cache=none
    pair "lgzn-np$np" "$np" lgz.json --set io.stream_cache=none
done
grep -q "standardized its rows once .* into a copy in str-lg-np2" lg-np2.log ||
    fail "float64 /X: no standardized copy"
grep -q "standardized its rows once" lgz-np2.log || fail "chunked file: no standardized copy"
grep -q "through HDF5 on the main thread" lgzn-np2.log || fail "chunked file: no fallback note"
grep -q "lgz.h5:.*/X: it is chunked" lgzn-np2.log || fail "chunked file: the note says why"
grep -q "mapped, standardized by a reader thread" lgn-np2.log || fail "float64 /X: not mapped"
ls -A str-lg-np2 | grep -q "mbatch-stream" && fail "the standardized copy was left behind"
for np in 2 3; do
    # np 2 with the standardized copy, np 3 standardizing every epoch.
    cache=$([ "$np" = 2 ] && echo "" || echo none)
    pair "lg32-np$np" "$np" lg.json --set dtype=float32 --set io.stream_cache=$cache
    pair "ln-np$np" "$np" ln.json --set io.stream_cache=$cache
    # Softmax blocks are whole 256-row pieces: capped at one piece, 7 or more blocks a rank.
    BUDGET=$((120000 + 60000 * np)) MBATCH_STREAM_BLOCK_ROWS=256 pair "sm-np$np" "$np" sm.json \
        --set io.stream_cache=$cache
    pair "cols-np$np" "$np" cols.json --set io.stream_cache=$cache
done

# Mini-batches: every step gathers its rows from the standardized copy, as from the shard. The
# epoch orders (48 bytes a row: 288 kB for 6000 rows) count in the budget.
for np in 1 2 3 4; do
    BUDGET=$((370000 + 20000 * np)) pair "lgmb-np$np" "$np" lg.json --set batch.size=100
done
BUDGET=410000 pair "lg32mb-np2" 2 lg.json --set dtype=float32 --set batch.size=64 \
    --set batch.shuffle_block=8
BUDGET=340000 pair "colsmb-np3" 3 cols.json --set batch.size=128 --set optimizer.momentum=0.9
BUDGET=450000 MBATCH_STREAM_BLOCK_ROWS=256 pair "smmb-np3" 3 sm.json --set batch.size=200
grep -q "mini-batches gather their rows from the copy" lgmb-np2.log || fail "mini-batch: no note"
# The solvers read the standardized copy (float64 whatever the dtype, as in memory).
for np in 1 2 3; do
    BUDGET=300000 pair "lbfgs-np$np" "$np" lg.json --set optimizer.type=lbfgs \
        --set optimizer.tol=1e-10
done
BUDGET=300000 pair "lbfgs32-np2" 2 lg.json --set optimizer.type=lbfgs --set dtype=float32
BUDGET=700000 pair "newton-np2" 2 lg.json --set optimizer.type=newton --set optimizer.tol=1e-10
BUDGET=300000 pair "lbfgssm-np2" 2 sm.json --set optimizer.type=lbfgs
for np in 1 2; do
    BUDGET=600000 pair "exact-np$np" "$np" ln.json --set optimizer.type=exact
done
grep -q "the solver reads the copy" lbfgs-np2.log || fail "lbfgs: no note"
# The network gathers its mini-batches from the copy too (float64 whatever the dtype).
for np in 1 2 3; do
    BUDGET=450000 pair "mlp-np$np" "$np" mlp.json
done
BUDGET=450000 pair "mlp32bn-np2" 2 mlp.json --set dtype=float32 --set model.batch_norm=true
# Threads share the standardized copy, full batch and mini-batch.
pair "lgth-np1" 1 lg.json --set threads=2
BUDGET=410000 pair "lgthmb-np2" 2 lg.json --set threads=2 --set batch.size=100

grep -q "pread on a reader thread" ln-np3.log || fail "float32 file: not the pread path"
grep -q "pread on a reader thread" cols-np3.log || fail "columns layout: not the pread path"

# A cache directory that cannot be written: a warning from every rank, then the blocks again.
touch not-a-dir
mb 2 train lg.json --set run_dir=nocache --set io.memory_budget=120000 \
    --set io.stream_cache=not-a-dir/x >nocache.log 2>nocache.err
[ "$(grep -c "warning: rank [01]: streaming without a standardized copy (not-a-dir/x: cannot create directory" nocache.err)" = 2 ] ||
    { cat nocache.err; fail "unwritable io.stream_cache: no warning from each rank"; }
grep -q "mapped, standardized by a reader thread" nocache.log || fail "no fallback to the blocks"

# Resume: 3 epochs, then --resume to 6, all streamed, against the uninterrupted streamed run.
mb 2 train lg.json --quiet --set run_dir=res --set io.memory_budget=120000 --set epochs=3
mb 2 train lg.json --quiet --set run_dir=res --set io.memory_budget=120000 --resume
# A mini-batch run resumed mid-epoch: 2 epochs of 54 steps with a checkpoint every 7 steps, the
# last epoch's checkpoint and model removed, so --resume starts at step 105 (epoch 2 step 51) and
# runs to 6 epochs; against the uninterrupted streamed run.
mb 2 train lg.json --quiet --set run_dir=resmb --set io.memory_budget=410000 \
    --set batch.size=100 --set checkpoint.every_steps=7 --set epochs=2
[ -e resmb/checkpoints/ckpt-105.h5 ] || fail "mini-batch: no checkpoint at step 105"
rm -f resmb/model.h5 resmb/checkpoints/ckpt-108.h5
mb 2 train lg.json --quiet --set run_dir=resmb --set io.memory_budget=410000 \
    --set batch.size=100 --set checkpoint.every_steps=7 --resume

"$PYTHON" - <<'PY'
import glob, h5py, numpy as np
def model(d):
    with h5py.File(d + "/model.h5", "r") as f:
        assert f.attrs["complete"] == 1
        out = {}
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out
def same(a, b, what):
    A, B = model(a), model(b)
    assert A.keys() == B.keys(), (what, A.keys(), B.keys())
    for k in A:
        x, y = np.asarray(A[k]), np.asarray(B[k])
        if x.dtype.kind == "f":
            assert x.tobytes() == y.tobytes(), (what, k, np.max(np.abs(x - y)))
        else:
            assert np.array_equal(x, y), (what, k)
n = 0
for d in sorted(glob.glob("str-*")):
    name = d[4:]
    same("mem-" + name, d, name)
    n += 1
print("streamed == in-memory, bitwise (model, optimizer state, preprocessing): %d runs" % n)
same("str-lg-np2", "res", "resume")
print("streamed resume 3 + 3 epochs == uninterrupted 6 epochs, bitwise")
same("str-lgmb-np2", "resmb", "mini-batch resume")
print("streamed mini-batch resume from step 105 (mid-epoch) == uninterrupted run, bitwise")
# The validation loss is computed from in-memory rows either way: equal. With the standardized
# copy an epoch is the in-memory kernel call: the training loss is equal too; standardizing every
# epoch it is a sum of per-block losses, equal to the last bits or nearly.
def epochs(d):
    with h5py.File(d + "/metrics.h5", "r") as f:
        return f["epochs"][()]
a, b, c = epochs("mem-lg-np3"), epochs("str-lg-np3"), epochs("str-lgn-np3")
assert a["val_loss"].tobytes() == b["val_loss"].tobytes() == c["val_loss"].tobytes()
assert a["train_loss"].tobytes() == b["train_loss"].tobytes()
r = np.max(np.abs(a["train_loss"] - c["train_loss"]) / a["train_loss"])
print("train_loss: bitwise equal with the standardized copy; without it max relative difference "
      "%.3g (sum of block losses)" % r)
assert r < 1e-12, r
PY

# Refusals: a mini-batch job without the standardized copy (none asked for, or none possible),
# threads, mlp or lbfgs without it, the qr solver, and a budget too small even to stream.
expect 2 "over io\.memory_budget.*streaming .* covers the gradient optimizers \(linear models and the mlp\) and the solvers, and batch\.size 100 is a mini-batch.*io\.stream_cache is \"none\"" \
    2 train lg.json --set run_dir=bad1 --set io.memory_budget=120000 --set batch.size=100 \
    --set io.stream_cache=none
expect 2 "rank [01]: a mini-batch job streams from a standardized copy .* cannot be made \(not-a-dir/x: cannot create directory" \
    2 train lg.json --set run_dir=bad4 --set io.memory_budget=410000 --set batch.size=100 \
    --set io.stream_cache=not-a-dir/x
expect 2 "over io\.memory_budget.*streaming .* covers the gradient optimizers \(linear models and the mlp\) and the solvers, and threads 2 share the standardized copy, and io\.stream_cache is \"none\"" \
    2 train lg.json --set run_dir=bad6 --set io.memory_budget=120000 --set threads=2 \
    --set io.stream_cache=none
expect 2 "over io\.memory_budget.*streaming .* covers the gradient optimizers \(linear models and the mlp\) and the solvers, and optimizer\.solver \"qr\" factors the whole shard" \
    2 train ln.json --set run_dir=bad2 --set io.memory_budget=120000 --set optimizer.type=exact \
    --set optimizer.solver=qr
expect 2 "over io\.memory_budget.*model\.type \"mlp\" gathers its mini-batches from the standardized copy, and io\.stream_cache is \"none\"" \
    2 train mlp.json --set run_dir=bad8 --set io.memory_budget=450000 --set io.stream_cache=none
expect 2 "over io\.memory_budget.*optimizer\.type \"lbfgs\" reads the standardized copy, and io\.stream_cache is \"none\"" \
    2 train lg.json --set run_dir=bad7 --set io.memory_budget=300000 --set optimizer.type=lbfgs \
    --set io.stream_cache=none
expect 2 "streaming it block by block needs at least [0-9]+ bytes per node .* set io\.memory_budget to at least [0-9]+" \
    2 train lg.json --set run_dir=bad3 --set io.memory_budget=20000
# The least budget it names does stream.
least=$(grep -oE "set io\.memory_budget to at least [0-9]+" err.txt | grep -oE "[0-9]+$")
mb 2 train lg.json --set run_dir=least --set io.memory_budget="$least" --set epochs=1 >least.log
grep -q "^mbatch: streaming " least.log || fail "the named least budget $least did not stream"
echo "ok: streams at the named least budget $least"
# A mini-batch job's least budget counts its epoch orders, and it streams at that budget too.
expect 2 "needs at least [0-9]+ bytes per node .* epoch orders, 48 bytes a row.* set io\.memory_budget to at least [0-9]+" \
    3 train lg.json --set run_dir=bad5 --set io.memory_budget=200000 --set batch.size=100
least=$(grep -oE "set io\.memory_budget to at least [0-9]+" err.txt | grep -oE "[0-9]+$")
mb 3 train lg.json --set run_dir=leastmb --set io.memory_budget="$least" --set batch.size=100 \
    --set epochs=1 >leastmb.log
grep -q "mini-batches gather their rows from the copy" leastmb.log ||
    fail "mini-batch: the named least budget $least did not stream"
echo "ok: a mini-batch job streams at its named least budget $least"
[ ! -e bad1/model.h5 ] && [ ! -e bad3/model.h5 ] && [ ! -e bad4/model.h5 ] ||
    fail "a refused job wrote a model"
echo PASS
