# test_trees.sh - tree models end to end: bitwise identical models at 1-4 ranks, scikit-learn
# oracles (same predictions as DecisionTreeClassifier when every value is a bin; accuracy within
# 1 point of DecisionTreeClassifier, RandomForestClassifier and HistGradientBoostingClassifier on
# generated data and on the breast-cancer data), resume continuing the forest and the boosting,
# predict/inspect, and jobs/fraud.json on a generated transactions file.
source "$(dirname "$0")/lib.sh"

# ---- data ----------------------------------------------------------------------------------
"$MBATCH" gen --kind logistic --rows 3000 --cols 6 --seed 21 --out g.h5 >/dev/null
"$MBATCH" gen --kind transactions --rows 20000 --seed 5 --out data.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np
from sklearn.datasets import load_breast_cancer
def save(name, X, y):
    with h5py.File(name, "w") as f:
        f["X"] = X
        f["y"] = y.astype(np.int32)
# Breast cancer: five 60/40 splits.
X, y = load_breast_cancer(return_X_y=True)
for s in range(5):
    idx = np.random.RandomState(s).permutation(len(y))
    ntr = int(0.6 * len(y))
    save("bc_tr%d.h5" % s, X[idx[:ntr]], y[idx[:ntr]])
    save("bc_va%d.h5" % s, X[idx[ntr:]], y[idx[ntr:]])
# Generated: a nonlinear logistic target over features with about 150 distinct values each
# (fewer than max_bins, so every value is its own bin).
rng = np.random.RandomState(7)
n = 12000
X = np.round(rng.randn(n, 6) * 25) / 10
z = np.sin(X[:, 0]) * 2 + X[:, 1] - (X[:, 2] > 1) * 1.5 + X[:, 3] * X[:, 4]
y = (rng.rand(n) < 1 / (1 + np.exp(-z))).astype(np.int32)
save("gen_tr.h5", X[:9000], y[:9000])
save("gen_va.h5", X[9000:], y[9000:])
PY

# tjob NAME DATA TYPE N_TREES MAX_DEPTH [EXTRA MODEL KEYS]
tjob() {
    job "$1.json" "{\"name\": \"$1\", \"dataset\": {\"path\": \"$2\", \"validation_fraction\": 0},
      \"model\": {\"type\": \"$3\", \"n_trees\": $4, \"max_depth\": $5 ${6:-}}, \"seed\": 3,
      \"checkpoint\": {\"every_epochs\": 0}}"
}

# ---- bitwise identical at 1, 2, 3 and 4 ranks ----------------------------------------------
job dt.json '{"name": "dt", "dataset": {"path": "g.h5"}, "model": {"type": "decision_tree",
  "max_depth": 8}, "seed": 3}'
job rf.json '{"name": "rf", "dataset": {"path": "g.h5"}, "model": {"type": "random_forest",
  "n_trees": 8, "max_depth": 6}, "seed": 3}'
job gb.json '{"name": "gb", "dataset": {"path": "g.h5"}, "model": {"type": "gradient_boosting",
  "n_trees": 8, "max_depth": 3}, "seed": 3}'
job tx.json '{"name": "tx", "dataset": {"path": "data.h5", "group": "/transactions",
  "features": ["amount", "location", "time_of_day", "merchant_category"],
  "categorical": ["location", "merchant_category"], "target": "is_fraudulent"},
  "model": {"type": "random_forest", "n_trees": 4, "max_depth": 10, "max_features": 0.5},
  "seed": 3}'
for m in dt rf gb tx; do
    for np in 1 2 3 4; do
        [ "$m" = gb ] && [ "$np" != 1 ] && [ "$np" != 3 ] && continue
        mb "$np" train "$m.json" --quiet --set "run_dir=runs/$m-np$np" >/dev/null
    done
done
"$PYTHON" - <<'PY'
import h5py, numpy as np
def model(path):
    out = {}
    with h5py.File(path, "r") as f:
        f["model"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
for m in ("dt", "rf", "gb", "tx"):
    ref = model("runs/%s-np1/model.h5" % m)
    assert any(k.startswith("trees/") for k in ref), sorted(ref)
    for np_ in ((3,) if m == "gb" else (2, 3, 4)):
        other = model("runs/%s-np%d/model.h5" % (m, np_))
        assert ref.keys() == other.keys(), (m, np_)
        for k in ref:
            a, b = np.asarray(ref[k]), np.asarray(other[k])
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), (m, np_, k)
    print("%s: %d model datasets bitwise identical at %s ranks"
          % (m, len(ref), "1 and 3" if m == "gb" else "1, 2, 3 and 4"))
PY

# ---- scikit-learn oracles ------------------------------------------------------------------
for crit in gini entropy; do
    tjob "exact_$crit" gen_tr.h5 decision_tree 1 5 ", \"criterion\": \"$crit\""
    mb 2 train "exact_$crit.json" --quiet >/dev/null
    mb 2 predict --model "runs/exact_$crit/model.h5" --data gen_va.h5 --out "p_exact_$crit.h5" \
        >/dev/null
done
for m in "decision_tree 1 6" "random_forest 100 0" "gradient_boosting 100 4"; do
    set -- $m
    tjob "gen_$1" gen_tr.h5 "$1" "$2" "$3"
    mb 2 train "gen_$1.json" --quiet >/dev/null
    mb 2 predict --model "runs/gen_$1/model.h5" --data gen_va.h5 --out "p_gen_$1.h5" >/dev/null
done
for s in 0 1 2 3 4; do
    for m in "decision_tree 1 4" "random_forest 100 0" "gradient_boosting 100 3"; do
        set -- $m
        tjob "bc_$1$s" "bc_tr$s.h5" "$1" "$2" "$3"
        mb 1 train "bc_$1$s.json" --quiet >/dev/null
    done
done
"$PYTHON" - <<'PY'
import h5py, numpy as np
from sklearn.tree import DecisionTreeClassifier
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
def ld(p):
    with h5py.File(p, "r") as f:
        return f["X"][()], f["y"][()]
def ours(p):
    with h5py.File(p, "r") as f:
        return f["label"][()], f["predictions"][()]
def apply_model(path, X):
    """The model file read independently of mbatch: walk every tree, x <= threshold goes left;
    forests average the leaves' class probabilities, boosting adds leaf values to the base."""
    with h5py.File(path, "r") as f:
        m = f["model"]
        acc = None
        for i in range(int(m.attrs["n_trees"])):
            t = m["trees/%d" % i]
            feat, thr, left, right, val = (t[k][()] for k in ("feature", "threshold", "left", "right", "value"))
            node = np.zeros(len(X), dtype=np.int64)
            while True:
                inner = feat[node] >= 0
                if not inner.any():
                    break
                n = node[inner]
                go_left = X[inner, feat[n]] <= thr[n]
                node[inner] = np.where(go_left, left[n], right[n])
            acc = val[node] if acc is None else acc + val[node]
        if int(m.attrs["kind"]) == 102:  # gradient_boosting, binary: raw score > 0
            return (acc[:, 0] + m["base"][0] > 0).astype(int)
        return np.argmax(acc, axis=1)
def sk(m, depth, seed):
    if m == "decision_tree":
        return DecisionTreeClassifier(max_depth=depth, random_state=seed)
    if m == "random_forest":
        return RandomForestClassifier(100, random_state=seed, n_jobs=2)
    return HistGradientBoostingClassifier(max_iter=100, max_depth=depth, max_leaf_nodes=None,
                                          min_samples_leaf=1, early_stopping=False)

# Every value a bin: the same tree as scikit-learn's exact one. scikit-learn breaks ties between
# equally good features by its random feature order, so one of its seeds must agree exactly.
Xtr, ytr = ld("gen_tr.h5"); Xva, yva = ld("gen_va.h5")
for crit in ("gini", "entropy"):
    lab, prob = ours("p_exact_%s.h5" % crit)
    agree = []
    for seed in range(10):
        t = DecisionTreeClassifier(max_depth=5, criterion=crit, random_state=seed).fit(Xtr, ytr)
        agree.append(np.array_equal(t.predict(Xva), lab) and
                     np.array_equal(t.predict_proba(Xva)[:, 1], prob))
    print("%s depth-5 tree: identical predictions and probabilities to scikit-learn for seeds %s"
          % (crit, [s for s in range(10) if agree[s]]))
    assert any(agree)

def report(name, o, k):
    print("%-28s mbatch %.4f  scikit-learn %.4f  difference %+.2f points" % (name, o, k, 100 * (o - k)))
    assert abs(o - k) <= 0.01, name

depth = {"decision_tree": 6, "random_forest": None, "gradient_boosting": 4}
for m in ("decision_tree", "random_forest", "gradient_boosting"):
    o = np.mean(ours("p_gen_%s.h5" % m)[0] == yva)
    seeds = range(3) if m != "gradient_boosting" else range(1)
    k = np.mean([sk(m, depth[m], s).fit(Xtr, ytr).score(Xva, yva) for s in seeds])
    report("generated " + m, o, k)

# Breast cancer: mean validation accuracy over five splits (a split has 228 rows, so one row is
# 0.44 points; the mean over splits is what a 1-point tolerance can judge).
depth = {"decision_tree": 4, "random_forest": None, "gradient_boosting": 3}
for m in ("decision_tree", "random_forest", "gradient_boosting"):
    o, k = [], []
    for s in range(5):
        Xtr, ytr = ld("bc_tr%d.h5" % s); Xva, yva = ld("bc_va%d.h5" % s)
        o.append(np.mean(apply_model("runs/bc_%s%d/model.h5" % (m, s), Xva) == yva))
        seeds = range(3) if m != "gradient_boosting" else range(1)
        k.append(np.mean([sk(m, depth[m], r).fit(Xtr, ytr).score(Xva, yva) for r in seeds]))
    report("breast cancer " + m, np.mean(o), np.mean(k))
PY

# ---- resume continues the forest and the boosting ------------------------------------------
for m in rf gb; do
    mb 2 train "$m.json" --quiet --set run_dir=runs/$m-part --set model.n_trees=5 >/dev/null
    mb 3 train "$m.json" --quiet --set run_dir=runs/$m-part --resume >out.txt
    grep -q "resuming from runs/$m-part/checkpoints/ckpt-5.h5 (5 trees)" out.txt ||
        { cat out.txt; fail "$m: resume did not start from the 5-tree checkpoint"; }
done
"$PYTHON" - <<'PY'
import h5py, numpy as np
for m in ("rf", "gb"):
    with h5py.File("runs/%s-np1/model.h5" % m) as a, h5py.File("runs/%s-part/model.h5" % m) as b:
        assert a["model"].attrs["n_trees"] == b["model"].attrs["n_trees"] == 8
        for i in range(8):
            for k in ("feature", "threshold", "value", "left"):
                x, y = a["model/trees/%d/%s" % (i, k)][()], b["model/trees/%d/%s" % (i, k)][()]
                assert x.tobytes() == y.tobytes(), (m, i, k)
    print("%s: 5 trees, then --resume on another rank count to 8: the same 8 trees" % m)
PY

# ---- predict, inspect, and the fraud job ---------------------------------------------------
mb 2 predict --model runs/rf-np1/model.h5 --data g.h5 --out pred.h5 >predict.txt
grep -q "random_forest on 3000 rows: accuracy" predict.txt ||
    { cat predict.txt; fail "predict did not report the forest's accuracy"; }
"$MBATCH" inspect runs/tx-np2/model.h5 >inspect.txt
grep -q "random_forest classifier, 4 trees" inspect.txt || { cat inspect.txt; fail "inspect: tree count"; }
grep -q "depth min" inspect.txt || fail "inspect: depths"
grep -Eq "importances +(amount|time_of_day|location=|merchant_category=)" inspect.txt ||
    { cat inspect.txt; fail "inspect: importances"; }
mkdir -p data && cp data.h5 data/transactions.h5
mb 2 train "$SRC_DIR/jobs/fraud.json" --set model.n_trees=10 --set checkpoint.every_epochs=5 >fraud.txt
grep -q "tree 10/10" fraud.txt || { cat fraud.txt; fail "fraud.json did not train 10 trees"; }
ls runs/fraud/checkpoints/ckpt-10.h5 runs/fraud/model.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np
from sklearn.ensemble import RandomForestClassifier
# The validation rows, recomputed from the split's definition (partition.h, rng.c): row i is a
# validation row when the inverse of the keyed Feistel permutation (four rounds of the splitmix64
# finalizer, cycle walking) maps it below n_val. Numpy's uint64 arithmetic wraps as C's does.
U = np.uint64
def mix64(z):
    z = (z ^ (z >> U(30))) * U(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> U(27))) * U(0x94d049bb133111eb)
    return z ^ (z >> U(31))
G = 0x9e3779b97f4a7c15
def u64(seed, purpose, a, b):
    h = mix64(U((seed + G) % 2**64))
    h = mix64(h ^ U((purpose + 2 * G) % 2**64))
    h = mix64(h ^ U((a + 3 * G) % 2**64))
    return mix64(h ^ U((b + 4 * G) % 2**64))
def validation_rows(n, fraction, seed):
    h = 1
    while h < 32 and (n - 1) >> (2 * h):
        h += 1
    mask, keys = U((1 << h) - 1), [u64(seed, 1, 0, r) for r in range(4)]
    def inv(x):
        l, r = x >> U(h), x & mask
        for k in (3, 2, 1, 0):
            l, r = r ^ (mix64(keys[k] ^ l) & mask), l
        return (l << U(h)) | r
    p = inv(np.arange(n, dtype=np.uint64))
    while (p >= n).any():
        p[p >= n] = inv(p[p >= n])
    return p < int(np.floor(n * fraction + 0.5))
with np.errstate(over="ignore"):
    with h5py.File("data/transactions.h5") as f:
        t = f["transactions"]
        y = t["is_fraudulent"][()]
        cols = [t["amount"][()], t["time_of_day"][()]]
        for c in ("location", "merchant_category"):
            v = t[c][()]
            cols += [(v == u).astype(float) for u in np.unique(v)]
    X = np.column_stack(cols)
    val = validation_rows(len(y), 0.1, 42)
with h5py.File("runs/fraud/metrics.h5") as f:
    acc = f["epochs"]["val_metric"][-1]
sk = RandomForestClassifier(n_estimators=10, max_depth=12, min_samples_leaf=5, max_features=0.5,
                            random_state=0).fit(X[~val], y[~val])
ref = sk.score(X[val], y[val])
print("fraud: %d validation rows, %.2f%% fraudulent; random forest validation accuracy %.4f, "
      "scikit-learn's %.4f, always-legitimate %.4f" % (val.sum(), 100 * y[val].mean(), acc, ref,
                                                        1 - y[val].mean()))
assert 0.005 < y.mean() < 0.05 and abs(acc - ref) <= 0.01, (acc, ref)
PY
echo "PASSED"
