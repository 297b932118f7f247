# test_mlp.sh - the MLP end to end: batch norm synchronized over the global mini-batch (the same
# weights to 1e-10 on 1, 2 and 4 ranks), >= 97% validation accuracy on two spirals where logistic
# regression stays <= 70%, ROC AUC and F1 of /classification equal scikit-learn's (binary MLP and
# SVM, per-class F1 of a softmax MLP), predict/inspect of the new models, and the jobs/ examples.
source "$(dirname "$0")/lib.sh"

# ---- data: two noisy interleaved spirals (mbatch gen, checked against their definition) ------
"$MBATCH" gen --kind spirals --rows 2000 --noise 0.2 --seed 1 --out spirals.h5 >/dev/null
"$MBATCH" gen --kind spirals --rows 1000 --noise 0.2 --seed 2 --out spirals_test.h5 >/dev/null
"$MBATCH" gen --kind spirals --rows 500 --noise 0 --seed 3 --out spirals0.h5 >/dev/null
"$PYTHON" - <<'PY' || fail "mbatch gen --kind spirals"
import h5py, numpy as np
f = h5py.File("spirals.h5", "r")
X, y = f["X"][:], f["y"][:]
assert X.shape == (2000, 2) and set(np.unique(y)) == {0, 1} and 900 < y.sum() < 1100
# Without noise, class 1 lies on t (cos t, sin t) and class 0 on the mirrored arm, t = |x|.
f = h5py.File("spirals0.h5", "r")
X, y = f["X"][:], f["y"][:]
t = np.hypot(X[:, 0], X[:, 1])
s = np.where(y == 1, 1.0, -1.0)
d = np.hypot(X[:, 0] - s * t * np.cos(t), X[:, 1] - s * t * np.sin(t))
print("spirals: max distance of a noiseless point to its arm %.3g" % d.max())
assert d.max() < 1e-12 and t.max() <= 3 * np.pi + 1e-12
PY
"$MBATCH" gen --kind softmax --rows 3000 --cols 8 --classes 3 --seed 4 --out soft.h5 >/dev/null
"$MBATCH" gen --kind logistic --rows 4000 --cols 10 --seed 6 --out bin.h5 >/dev/null
"$MBATCH" gen --kind linear --rows 3000 --cols 5 --noise 0.5 --seed 8 --out lin.h5 >/dev/null

# mjob NAME EPOCHS BATCH [MODEL KEYS]: an MLP job on the spirals.
mjob() {
    job "$1.json" "{\"name\": \"$1\", \"dataset\": {\"path\": \"spirals.h5\", \"X\": \"/X\",
      \"y\": \"/y\", \"validation_fraction\": 0.2}, \"model\": {\"type\": \"mlp\", ${4:-\"hidden\": [32, 32], \"batch_norm\": true}},
      \"optimizer\": {\"type\": \"adam\", \"lr\": 0.01}, \"batch\": {\"size\": $3}, \"epochs\": $2,
      \"seed\": 3, \"checkpoint\": {\"every_epochs\": 0}, \"run_dir\": \"$1\"}"
}

# ---- 1. batch norm over the global batch: 1, 2 and 4 ranks give the same weights ------------
mjob bn 3 100
for np in 1 2 4; do
    mb $np train bn.json --set run_dir=bn$np --quiet >/dev/null || fail "bn training on $np ranks"
done
"$PYTHON" - <<'PY' || fail "batch-norm weights differ between rank counts"
import h5py, numpy as np
t = {n: h5py.File("bn%d/model.h5" % n, "r")["model/theta"][:] for n in (1, 2, 4)}
for n in (2, 4):
    d = np.max(np.abs(t[n] - t[1]))
    print("ranks %d vs 1: max |theta difference| %.3g over %d values (BN running stats included)"
          % (n, d, t[1].size))
    assert d <= 1e-10, d
assert np.max(np.abs(t[1])) > 0.1
PY

# ---- 1b. resume: 2 epochs, then --resume to 3, equals 3 epochs straight (bn1 above) ---------
mb 1 train bn.json --set run_dir=bnr --set epochs=2 --quiet >/dev/null || fail "bn 2 epochs"
mb 1 train bn.json --set run_dir=bnr --resume --quiet >/dev/null || fail "bn resume"
"$PYTHON" -c "
import h5py, numpy as np
a = h5py.File('bn1/model.h5', 'r')['model/theta'][:]
b = h5py.File('bnr/model.h5', 'r')['model/theta'][:]
assert np.array_equal(a, b), np.max(np.abs(a - b))
print('resumed mlp equals the uninterrupted run bitwise')" || fail "resumed mlp differs"

# ---- 1c. resume inside an epoch (checkpoint.every_steps) with a plateau schedule, MLP and ------
# logistic regression: bitwise the uninterrupted run, learning rates included
for m in mlp logistic; do
    job st_$m.json "{\"name\": \"st\", \"dataset\": {\"path\": \"spirals.h5\", \"X\": \"/X\",
      \"y\": \"/y\", \"validation_fraction\": 0.2}, \"model\": {\"type\": \"$m\" $([ $m = mlp ] &&
      echo ', "hidden": [16, 16], "batch_norm": true')}, \"optimizer\": {\"type\": \"adam\",
      \"lr\": 0.01, \"schedule\": {\"type\": \"plateau\", \"patience\": 1, \"gamma\": 0.5,
      \"threshold\": 0.5}}, \"batch\": {\"size\": 100}, \"epochs\": 4, \"seed\": 3,
      \"run_dir\": \"st_$m\", \"checkpoint\": {\"every_steps\": 7, \"keep\": 0}}"
    mb 2 train st_$m.json --quiet >/dev/null || fail "$m with checkpoints every 7 steps"
    cp -r st_$m st_${m}_r
    rm st_${m}_r/model.h5
    # Keep the checkpoints up to step 35: epoch 3 of 16 steps, 3 steps in.
    for f in st_${m}_r/checkpoints/ckpt-*.h5; do
        n=${f##*ckpt-}
        [ "${n%.h5}" -le 35 ] || rm "$f"
    done
    mb 2 train st_$m.json --set run_dir=st_${m}_r --resume --quiet >/dev/null ||
        fail "$m resume at step 35"
    "$PYTHON" - "$m" <<'PY' || fail "resumed $1 differs"
import h5py, numpy as np, sys
m = sys.argv[1]
a = h5py.File("st_%s/model.h5" % m, "r")["model/theta"][:]
b = h5py.File("st_%s_r/model.h5" % m, "r")["model/theta"][:]
la = h5py.File("st_%s/metrics.h5" % m, "r")["epochs"]["lr"]
lb = h5py.File("st_%s_r/metrics.h5" % m, "r")["epochs"]["lr"]
print("%s resumed at step 35: theta equal %s, lr per epoch %s / %s"
      % (m, np.array_equal(a, b), list(la), list(lb)))
assert np.array_equal(a, b) and list(la) == list(lb) and la[-1] < la[0]
PY
done

# ---- 2. nonlinear task: MLP >= 97%, logistic regression <= 70% ------------------------------
mjob spiral 25 100
mb 2 train spiral.json --quiet >/dev/null || fail "mlp training"
job logi.json '{"name": "logi", "dataset": {"path": "spirals.h5", "X": "/X", "y": "/y",
  "validation_fraction": 0.2}, "model": {"type": "logistic"}, "optimizer": {"type": "adam",
  "lr": 0.05}, "batch": {"size": 100}, "epochs": 25, "seed": 3, "run_dir": "logi",
  "checkpoint": {"every_epochs": 0}}'
mb 2 train logi.json --quiet >/dev/null || fail "logistic training"
"$PYTHON" - <<'PY' || fail "accuracy on the spirals"
import h5py
mlp = h5py.File("spiral/metrics.h5", "r")["epochs"]["val_metric"][-1]
logi = h5py.File("logi/metrics.h5", "r")["epochs"]["val_metric"][-1]
print("two spirals, validation accuracy: mlp %.4f (need >= 0.97), logistic %.4f (need <= 0.70)"
      % (mlp, logi))
assert mlp >= 0.97 and logi <= 0.70
PY

# ---- 3. classification metrics vs scikit-learn ------------------------------------------------
mb 3 predict --model spiral/model.h5 --data spirals_test.h5 --out p_mlp.h5 --quiet ||
    fail "mlp predict"
job svm.json '{"name": "svm", "dataset": {"path": "bin.h5", "X": "/X", "y": "/y",
  "validation_fraction": 0.25}, "model": {"type": "svm", "loss": "squared_hinge", "l2": 1e-3},
  "optimizer": {"type": "sgd", "lr": 0.05}, "batch": {"size": 200}, "epochs": 5, "seed": 2,
  "run_dir": "svm", "checkpoint": {"every_epochs": 0}}'
mb 2 train svm.json --quiet >/dev/null || fail "svm training"
mb 4 predict --model svm/model.h5 --data bin.h5 --out p_svm.h5 --quiet || fail "svm predict"
mjob soft 8 100 '"hidden": [16], "activation": "tanh", "output": "softmax"'
sed -i 's/spirals.h5/soft.h5/' soft.json
mb 2 train soft.json --quiet >/dev/null || fail "softmax mlp training"
mb 3 predict --model soft/model.h5 --data soft.h5 --out p_soft.h5 --quiet || fail "softmax predict"
"$PYTHON" - <<'PY' || fail "classification metrics differ from scikit-learn"
import h5py, numpy as np
from sklearn.metrics import roc_auc_score, f1_score, precision_score, recall_score, confusion_matrix
for pred, data in (("p_mlp.h5", "spirals_test.h5"), ("p_svm.h5", "bin.h5")):
    f = h5py.File(pred, "r")
    s = f["predictions"][:]
    y = h5py.File(data, "r")["y"][:]
    c = f["classification"]
    thr = c.attrs["threshold"]
    auc, f1 = roc_auc_score(y, s), f1_score(y, s >= thr)
    print("%s: ROC AUC %.15f (sklearn %.15f), F1 %.15f (sklearn %.15f)"
          % (pred, c.attrs["auc"], auc, c.attrs["f1_binary"], f1))
    assert abs(c.attrs["auc"] - auc) <= 1e-12
    assert abs(c.attrs["f1_binary"] - f1) <= 1e-15
    assert abs(c.attrs["precision_binary"] - precision_score(y, s >= thr)) <= 1e-15
    assert abs(c.attrs["recall_binary"] - recall_score(y, s >= thr)) <= 1e-15
    assert (c["confusion"][:] == confusion_matrix(y, s >= thr)).all()
f = h5py.File("p_soft.h5", "r")
y = h5py.File("soft.h5", "r")["y"][:]
lab = f["label"][:]
c = f["classification"]
ref = f1_score(y, lab, average=None)
print("softmax mlp: per-class F1", c["f1"][:], "sklearn", ref)
assert np.max(np.abs(c["f1"][:] - ref)) <= 1e-15
assert (c["confusion"][:] == confusion_matrix(y, lab)).all()
# The training run wrote the validation report too.
m = h5py.File("spiral/metrics.h5", "r")["classification"]
assert m.attrs["rows"] == 400 and 0.97 <= m.attrs["accuracy"] <= 1
PY

# ---- 4. inspect and the job examples ----------------------------------------------------------
"$MBATCH" inspect spiral/model.h5 | grep -q "mlp" || fail "inspect does not name the mlp"
"$MBATCH" inspect svm/model.h5 | grep -q "svm (squared hinge)" || fail "inspect svm"
"$MBATCH" inspect spiral/metrics.h5 | grep -q "classification over 400 rows: accuracy" ||
    fail "inspect metrics lacks the classification report"
"$MBATCH" inspect p_soft.h5 | grep -qE "^ +2 .* F1|^ +2 +[0-9.]+ +[0-9.]+ +[0-9.]+ " ||
    fail "inspect predictions lacks the per-class report"
"$MBATCH" gen --kind transactions --rows 6000 --seed 5 --out tx.h5 >/dev/null
for j in mlp_spirals svm_sentiment huber fraud_mlp; do
    case $j in
    mlp_spirals) data=spirals.h5 ;;
    svm_sentiment) data=sent.h5 ;;
    huber) data=lin.h5 ;;
    fraud_mlp) data=tx.h5 ;;
    esac
    [ -f sent.h5 ] || "$MBATCH" gen --kind logistic --rows 5000 --cols 200 --seed 9 --out sent.h5 \
        >/dev/null
    mb 2 train "$SRC_DIR/jobs/$j.json" --set dataset.path="$data" --set run_dir="job_$j" \
        --set epochs=2 --quiet >/dev/null || fail "jobs/$j.json"
    [ -f "job_$j/model.h5" ] || fail "jobs/$j.json wrote no model"
    echo "ok: jobs/$j.json"
done
echo "PASSED"
