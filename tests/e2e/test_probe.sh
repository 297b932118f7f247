# test_probe.sh - probe_bandwidth: after each epoch every rank reads its training rows once, and
# metrics.h5 /epochs read_s holds the slowest rank's time (0 without the probe); the closing line
# gives the median fraction read_s / epoch_s; inspect, --csv and report show the column; the
# probe changes no result (model.h5 bitwise equal with and without); an /epochs table from before
# read_s is rebuilt on --resume with its rows kept; rows streamed block by block have nothing to
# read (a warning, read_s 0); models without gradient-descent epochs refuse the key.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 40000 --cols 16 --seed 3 --out lg.h5 >/dev/null
job lg.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"type": "adam", "lr": 0.05}, "batch": {"size": 512}, "epochs": 4}'

# read_s of every epoch of RUN: all > 0 (probed) or all exactly 0 (not).
read_s() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
run, want = sys.argv[1], sys.argv[2]
e = h5py.File(run + "/metrics.h5", "r")["epochs"][()]
r = e["read_s"]
if want == "probed":
    assert len(r) == 4 and np.all(r > 0) and np.all(np.isfinite(r)), r
    # One read of the rows costs less than an epoch that reads them and computes on them,
    # with a wide margin for a busy machine.
    assert np.all(r < 20 * e["epoch_s"]), (r, e["epoch_s"])
else:
    assert len(r) == 4 and np.all(r == 0), r
print(run, want, " ".join("%.2e" % x for x in r))
PY
}

# The bytes of RUN/model.h5's weights, for a bitwise comparison.
theta_hex() {
    "$PYTHON" -c "import h5py, sys; print(h5py.File(sys.argv[1])['model/theta'][()].tobytes().hex())" \
        "$1/model.h5"
}

for np in 1 2 3; do
    for dtype in float64 float32; do
        run=p$np-$dtype
        mb "$np" train lg.json --set run_dir="$run" --set dtype=$dtype \
            --set probe_bandwidth=true >"$run.log"
        grep -qE "^mbatch: epochs ran at [0-9.]+% of the memory read rate measured after each" \
            "$run.log" || { cat "$run.log"; fail "$run: no closing line with the read fraction"; }
        read_s "$run" probed
        mb "$np" train lg.json --set run_dir="n$np-$dtype" --set dtype=$dtype >"n$np-$dtype.log"
        ! grep -q "memory read rate" "n$np-$dtype.log" ||
            fail "n$np-$dtype: a read fraction printed"
        read_s "n$np-$dtype" none
        [ "$(theta_hex "$run")" = "$(theta_hex "n$np-$dtype")" ] ||
            fail "$np ranks, $dtype: the probe changed model.h5"
    done
done

"$MBATCH" inspect p2-float64/metrics.h5 >inspect.txt
grep -qE "read_s +read/ep" inspect.txt || { cat inspect.txt; fail "inspect: no read_s column"; }
"$MBATCH" inspect n2-float64/metrics.h5 >inspect-n.txt
! grep -q "read_s" inspect-n.txt || fail "inspect: a read_s column without the probe"
"$MBATCH" inspect --csv p2-float64/metrics.h5 >m.csv
head -1 m.csv | grep -q ",imbalance,read_s$" || { head -2 m.csv; fail "--csv: no read_s column"; }
[ "$(awk -F, 'NR > 1 && $15 > 0' m.csv | wc -l)" = 4 ] || fail "--csv: read_s not > 0 in 4 rows"
"$MBATCH" report p2-float64 >/dev/null
grep -q "<th>read s</th><th>read / epoch</th>" p2-float64/report.html ||
    fail "report: no read_s column"
"$MBATCH" report n2-float64 >/dev/null
! grep -q "<th>read s</th>" n2-float64/report.html ||
    fail "report: a read_s column without the probe"

# A run directory from before read_s existed: its /epochs table (no read_s column) is rebuilt on
# --resume with its rows kept, so the resumed epochs' read_s is stored.
job ck.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "logistic"},
  "optimizer": {"type": "sgd", "lr": 0.5}, "batch": {"size": 512}, "epochs": 4,
  "checkpoint": {"every_epochs": 1}}'
mb 2 train ck.json --quiet --set run_dir=old --set epochs=2 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("old/metrics.h5", "a") as f:
    e = f["epochs"][()]
    names = [n for n in e.dtype.names if n != "read_s"]
    old = np.empty(len(e), dtype=[(n, e.dtype[n]) for n in names])
    for n in names:
        old[n] = e[n]
    del f["epochs"]
    f.create_dataset("epochs", data=old, maxshape=(None,), chunks=(64,))
    np.save("old-loss.npy", old["train_loss"])
PY
mb 2 train ck.json --set run_dir=old --resume --set probe_bandwidth=true >old.log
"$PYTHON" - <<'PY'
import h5py, numpy as np
e = h5py.File("old/metrics.h5", "r")["epochs"][()]
assert len(e) == 4, len(e)
assert np.array_equal(e["train_loss"][:2], np.load("old-loss.npy")), "the old rows changed"
assert np.all(e["read_s"][:2] == 0) and np.all(e["read_s"][2:] > 0), e["read_s"]
print("old table upgraded:", e["read_s"])
PY

# Full batch streamed without the standardized copy: the rows are never all held.
job full.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "logistic"},
  "optimizer": {"type": "sgd", "lr": 0.5}, "batch": {"size": "full"}, "epochs": 4}'
mb 2 train full.json --set run_dir=str --set io.memory_budget=1000000 --set io.stream_cache=none \
    --set probe_bandwidth=true >str.log 2>str.err
grep -q "^mbatch: streaming " str.log || { cat str.log; fail "the full-batch run did not stream"; }
msg="warning: probe_bandwidth: the training rows are streamed block by block"
[ "$(grep -c "$msg" str.err)" = 1 ] ||
    { cat str.err; fail "streamed without a copy: no single warning"; }
read_s str none
! grep -q "memory read rate" str.log || fail "streamed without a copy: a read fraction printed"
# With the standardized copy (the default) the epochs read the mapped copy, and so does the probe.
mb 2 train full.json --quiet --set run_dir=strc --set io.memory_budget=1000000 \
    --set probe_bandwidth=true >strc.log
read_s strc probed

# Only gradient-descent epochs of linear models are probed.
job mlp.json '{"dataset": {"path": "lg.h5"}, "model": {"type": "mlp", "hidden": [8]},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 64}, "epochs": 1}'
expect 1 "probe_bandwidth.*model 'mlp' with optimizer 'adam'" 1 train mlp.json \
    --set probe_bandwidth=true
expect 1 "probe_bandwidth.*optimizer 'lbfgs'" 2 train full.json --set optimizer.type=lbfgs \
    --set probe_bandwidth=true
expect 1 "probe_bandwidth.*model 'random_forest'" 1 train full.json \
    --set model.type=random_forest --set probe_bandwidth=true
echo "probe_bandwidth: ok"
