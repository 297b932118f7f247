# test_solvers.sh - exact, newton and lbfgs against independent oracles: numpy.linalg.lstsq
# (linear, QR and Cholesky, 1-4 ranks), scikit-learn's LogisticRegression (logistic, softmax, same
# L2), scipy (Huber, squared hinge), the optimality gap table, D = 4096 features, and the solvers'
# error paths.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind linear --rows 3000 --cols 12 --seed 21 --noise 0.3 --out lin.h5 >/dev/null
"$MBATCH" gen --kind logistic --rows 4000 --cols 8 --seed 22 --out logit.h5 >/dev/null
"$MBATCH" gen --kind softmax --rows 3000 --cols 6 --classes 4 --seed 23 --out soft.h5 >/dev/null
base='"checkpoint": {"every_epochs": 0}'
job lin.json "{\"dataset\": {\"path\": \"lin.h5\", \"validation_fraction\": 0},
  \"model\": {\"type\": \"linear\"}, \"optimizer\": {\"type\": \"exact\"}, $base}"
job logit.json "{\"dataset\": {\"path\": \"logit.h5\", \"validation_fraction\": 0},
  \"model\": {\"type\": \"logistic\", \"l2\": 0.001}, \"optimizer\": {\"type\": \"newton\"}, $base}"
job soft.json "{\"dataset\": {\"path\": \"soft.h5\", \"validation_fraction\": 0},
  \"model\": {\"type\": \"softmax\", \"l2\": 0.002}, \"optimizer\": {\"type\": \"newton\"}, $base}"

# Exact least squares on grids 1x1, 1x2, 1x3, 2x2, by Cholesky and by QR; ridge both ways.
for np in 1 2 3 4; do
    mb "$np" train lin.json --quiet --set run_dir="runs/chol$np"
    mb "$np" train lin.json --quiet --set run_dir="runs/qr$np" --set optimizer.solver=qr
done
mb 2 train lin.json --quiet --set run_dir=runs/ridge-chol --set model.l2=0.05
mb 3 train lin.json --quiet --set run_dir=runs/ridge-qr --set model.l2=0.05 --set optimizer.solver=qr
mb 2 predict --model runs/qr4/model.h5 --data lin.h5 --out pred.h5 >/dev/null
# L-BFGS for every smooth model; Newton for logistic (<= 15 iterations) and softmax.
mb 2 train lin.json --quiet --set run_dir=runs/lbfgs-lin --set optimizer.type=lbfgs --set model.l2=0.05
mb 3 train logit.json --quiet --set run_dir=runs/newton-logit
mb 2 train logit.json --quiet --set run_dir=runs/lbfgs-logit --set optimizer.type=lbfgs
mb 4 train soft.json --quiet --set run_dir=runs/newton-soft
mb 3 train soft.json --quiet --set run_dir=runs/lbfgs-soft --set optimizer.type=lbfgs
mb 2 train lin.json --quiet --set run_dir=runs/lbfgs-huber --set optimizer.type=lbfgs \
    --set model.type=huber --set model.l2=0.01
mb 3 train logit.json --quiet --set run_dir=runs/lbfgs-sqhinge --set optimizer.type=lbfgs \
    --set model.type=svm --set model.loss=squared_hinge
# report_gap: a gradient-descent run records objective - optimum per epoch in /gap.
mb 2 train logit.json --quiet --set run_dir=runs/gd-gap --set optimizer.type=sgd \
    --set optimizer.lr=1.0 --set epochs=30 --set report_gap=true

"$PYTHON" - <<'PY'
import h5py, numpy as np
from sklearn.linear_model import LogisticRegression

def load(data):
    with h5py.File(data, "r") as f:
        X, y = f["X"][()].astype(np.float64), f["y"][()].astype(np.float64)
    return (X - X.mean(axis=0)) / X.std(axis=0), y

def theta(run):
    with h5py.File(run + "/model.h5", "r") as f:
        return f["model/theta"][()]

def rows(run):
    with h5py.File(run + "/metrics.h5", "r") as f:
        return f["epochs"][()]

Z, y = load("lin.h5")
A = np.hstack([Z, np.ones((len(y), 1))])
ref = A @ np.linalg.lstsq(A, y, rcond=None)[0]
for solver in ("chol", "qr"):
    for np_ in (1, 2, 3, 4):
        pred = A @ theta("runs/%s%d" % (solver, np_))
        rel = np.max(np.abs(pred - ref)) / np.max(np.abs(ref))
        print("exact %s on %d rank(s): predictions vs numpy.linalg.lstsq: max rel diff %.3g"
              % (solver, np_, rel))
        assert rel < 1e-10, rel
for np_ in (1, 2, 3, 4):
    d = np.max(np.abs(theta("runs/chol%d" % np_) - theta("runs/qr%d" % np_)))
    assert d < 1e-10 * np.max(np.abs(theta("runs/qr1"))), d
with h5py.File("pred.h5", "r") as f:
    rel = np.max(np.abs(f["predictions"][()] - ref)) / np.max(np.abs(ref))
print("mbatch predict with the QR model vs lstsq: max rel diff %.3g" % rel)
assert rel < 1e-10

# Ridge: min |A t - y|^2 + n l2 |w|^2 as an augmented least-squares problem.
n, d, l2 = len(y), Z.shape[1], 0.05
Aaug = np.vstack([A, np.hstack([np.sqrt(n * l2) * np.eye(d), np.zeros((d, 1))])])
sol = np.linalg.lstsq(Aaug, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
for run in ("runs/ridge-chol", "runs/ridge-qr", "runs/lbfgs-lin"):
    rel = np.max(np.abs(theta(run) - sol)) / np.max(np.abs(sol))
    print("%s vs augmented lstsq: max rel diff %.3g" % (run, rel))
    assert rel < (1e-10 if "lbfgs" not in run else 1e-7), rel

def logistic_objective(Z, y, l2, t):
    z = Z @ t[:-1] + t[-1]
    return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * t[:-1] @ t[:-1]

Z, y = load("logit.h5")
n, l2 = len(y), 0.001
sk = LogisticRegression(C=1.0 / (l2 * n), tol=1e-14, max_iter=100000).fit(Z, y)
f_sk = logistic_objective(Z, y, l2, np.append(sk.coef_[0], sk.intercept_[0]))
for run, limit in (("runs/newton-logit", 15), ("runs/lbfgs-logit", 200)):
    f = logistic_objective(Z, y, l2, theta(run))
    it = len(rows(run))
    print("%s: objective %.15f, scikit-learn %.15f, diff %.3g, %d iterations"
          % (run, f, f_sk, f - f_sk, it))
    assert abs(f - f_sk) < 1e-8 and it <= limit
    assert abs(rows(run)["train_loss"][-1] - f) < 1e-12  # the metrics row is the objective

# Softmax: scikit-learn's multinomial model has the same K full intercepts and penalty.
Zs, ys = load("soft.h5")
n, l2, K = len(ys), 0.002, 4
def softmax_objective(t):
    W, b = t[:-K].reshape(-1, K), t[-K:]
    S = Zs @ W + b
    lse = np.log(np.exp(S - S.max(axis=1, keepdims=True)).sum(axis=1)) + S.max(axis=1)
    return np.mean(lse - S[np.arange(n), ys.astype(int)]) + 0.5 * l2 * np.sum(W * W)
sk = LogisticRegression(C=1.0 / (l2 * n), tol=1e-14, max_iter=100000).fit(Zs, ys)
f_sk = softmax_objective(np.concatenate([sk.coef_.T.ravel(), sk.intercept_]))
for run in ("runs/newton-soft", "runs/lbfgs-soft"):
    f = softmax_objective(theta(run))
    print("%s: objective %.15f, scikit-learn %.15f, diff %.3g, %d iterations"
          % (run, f, f_sk, f - f_sk, len(rows(run))))
    assert abs(f - f_sk) < 1e-8

# Huber and squared hinge (once differentiable): scipy's L-BFGS-B on the same objective.
from scipy.optimize import minimize
def check(run, Z, y, l2, loss):
    A = np.hstack([Z, np.ones((len(y), 1))])
    def f(t):
        z = A @ t
        if loss == "huber":
            r = z - y
            v, dv = np.where(np.abs(r) <= 1, 0.5 * r * r, np.abs(r) - 0.5), np.clip(r, -1, 1)
        else:
            s = 2 * y - 1
            m = np.maximum(0, 1 - s * z)
            v, dv = m * m, -2 * s * m
        w = np.append(t[:-1], 0)
        return np.mean(v) + 0.5 * l2 * w @ w, A.T @ dv / len(y) + l2 * w
    ref = minimize(f, np.zeros(A.shape[1]), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 100000})
    ours = f(theta(run))[0]
    print("%s: objective %.15f, scipy %.15f, diff %.3g" % (run, ours, ref.fun, ours - ref.fun))
    assert abs(ours - ref.fun) < 1e-8
Zl, yl = load("lin.h5")
check("runs/lbfgs-huber", Zl, yl, 0.01, "huber")
check("runs/lbfgs-sqhinge", Z, y, 0.001, "sqhinge")

# The gap table: objective - optimum at every epoch, the optimum being Newton's.
with h5py.File("runs/gd-gap/metrics.h5", "r") as f:
    gap = f["gap"][()]
f_opt = logistic_objective(Z, y, 0.001, theta("runs/newton-logit"))
assert len(gap) == 30 and list(gap["epoch"]) == list(range(30))
assert np.all(np.abs(gap["optimum"] - f_opt) < 1e-12)
assert np.all(gap["gap"] > -1e-12) and np.all(np.diff(gap["gap"]) <= 1e-15)
assert abs(gap["objective"][-1] - logistic_objective(Z, y, 0.001, theta("runs/gd-gap"))) < 1e-12
print("gradient descent gap: epoch 1 %.3g, epoch 30 %.3g" % (gap["gap"][0], gap["gap"][-1]))
PY

# D = 4096 features at moderate N: the normal equations distributed over 2 ranks.
"$MBATCH" gen --kind linear --rows 6000 --cols 4096 --seed 24 --out wide.h5 >/dev/null
mb 2 train lin.json --quiet --set dataset.path=wide.h5 --set run_dir=runs/wide --set model.l2=0.01
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("wide.h5", "r") as f:
    X, y = f["X"][()], f["y"][()]
Z = (X - X.mean(axis=0)) / X.std(axis=0)
with h5py.File("runs/wide/model.h5", "r") as f:
    t = f["model/theta"][()]
n, l2 = len(y), 0.01
r = Z @ t[:-1] + t[-1] - y
g = np.append(Z.T @ r / n + l2 * t[:-1], r.mean())  # the objective's gradient: zero at the optimum
scale = np.max(np.abs(Z.T @ y / n))
print("D = 4096: max |gradient| %.3g relative to max |X'y/n| %.3g" % (np.max(np.abs(g)), scale))
assert np.max(np.abs(g)) < 1e-10 * scale
PY

# Errors: exact needs the linear model; collinear features make both solvers fail with exit 4.
expect 1 "optimizer 'exact' solves linear" 1 train logit.json --set optimizer.type=exact
expect 1 "optimizer 'lbfgs' needs a smooth model.*hinge loss" 1 train logit.json \
    --set optimizer.type=lbfgs --set model.type=svm
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("lin.h5", "r") as f:
    X, y = f["X"][()], f["y"][()]
with h5py.File("collinear.h5", "w") as f:
    f["X"] = np.hstack([X, 2 * X[:, 3:4] + 1])
    f["y"] = y
PY
expect 4 "not positive definite.*collinear" 2 train lin.json --set dataset.path=collinear.h5
expect 4 "rank deficient.*collinear" 3 train lin.json --set dataset.path=collinear.h5 \
    --set optimizer.solver=qr
# Nearly collinear (1e-6 relative noise): solved, with a condition warning on stderr.
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("lin.h5", "r") as f:
    X, y = f["X"][()], f["y"][()]
c = X[:, 3:4]
with h5py.File("near.h5", "w") as f:
    f["X"] = np.hstack([X, 2 * c + 1 + 1e-6 * c.std() * np.random.default_rng(5).standard_normal(c.shape)])
    f["y"] = y
PY
expect 0 "warning: the normal equations are ill-conditioned" 2 train lin.json \
    --set dataset.path=near.h5 --set run_dir=runs/near
echo PASSED
