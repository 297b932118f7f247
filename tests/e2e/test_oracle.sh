# test_oracle.sh - independent oracles: logistic regression reaches scikit-learn's training loss
# (same L2) within 1e-4; linear regression reaches the least-squares solution to 1e-8 relative.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 2000 --cols 5 --seed 11 --out logit.h5
"$MBATCH" gen --kind linear --rows 2000 --cols 5 --seed 12 --noise 0.5 --out lin.h5
job logit.json '{"dataset": {"path": "logit.h5", "validation_fraction": 0},
  "model": {"type": "logistic", "l2": 0.01},
  "optimizer": {"lr": 1.0, "momentum": 0.5}, "batch": {"size": "full"}, "epochs": 300,
  "checkpoint": {"every_epochs": 0}}'
job lin.json '{"dataset": {"path": "lin.h5", "validation_fraction": 0},
  "model": {"type": "linear", "l2": 0},
  "optimizer": {"lr": 0.9}, "batch": {"size": "full"}, "epochs": 200,
  "checkpoint": {"every_epochs": 0}}'
job ridge.json '{"dataset": {"path": "lin.h5", "validation_fraction": 0},
  "model": {"type": "linear", "l2": 0.3},
  "optimizer": {"lr": 0.7}, "batch": {"size": "full"}, "epochs": 200,
  "checkpoint": {"every_epochs": 0}}'
mb 2 train logit.json --quiet
mb 3 train lin.json --quiet
mb 2 train ridge.json --quiet

"$PYTHON" - <<'PY'
import h5py, numpy as np
from sklearn.linear_model import LogisticRegression

def load(data, run):
    with h5py.File(data, "r") as f:
        X, y = f["X"][()].astype(np.float64), f["y"][()].astype(np.float64)
    with h5py.File(run + "/model.h5", "r") as f:
        theta, mean, std = f["model/theta"][()], f["preprocess/mean"][()], f["preprocess/std"][()]
    m, s = X.mean(axis=0), X.std(axis=0)
    assert np.allclose(mean, m, rtol=1e-12, atol=1e-12), (mean, m)
    assert np.allclose(std, s, rtol=1e-12), (std, s)
    return (X - m) / s, y, theta

# Logistic: the objective is mean log-loss + (l2/2)|w|^2, sklearn's with C = 1/(l2 n).
Z, y, theta = load("logit.h5", "runs/logit")
n, l2 = len(y), 0.01
def objective(w, b):
    z = Z @ w + b
    return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * w @ w
sk = LogisticRegression(C=1.0 / (l2 * n), tol=1e-12, max_iter=100000).fit(Z, y)
ours, ref = objective(theta[:-1], theta[-1]), objective(sk.coef_[0], sk.intercept_[0])
print("logistic training loss: mbatch %.12f, scikit-learn %.12f, difference %.3g" % (ours, ref, ours - ref))
assert abs(ours - ref) < 1e-4

# Linear: least squares with intercept on the standardized features.
Z, y, theta = load("lin.h5", "runs/lin")
A = np.hstack([Z, np.ones((len(y), 1))])
sol = np.linalg.lstsq(A, y, rcond=None)[0]
rel = np.max(np.abs(theta - sol)) / np.max(np.abs(sol))
print("linear: max relative difference to least squares %.3g" % rel)
assert rel < 1e-8

# Ridge: (Z'Z/n + l2 I) w = Z'(y - b)/n with an unpenalized intercept.
Z, y, theta = load("lin.h5", "runs/ridge")
n, l2 = len(y), 0.3
yc = y - y.mean()
w = np.linalg.solve(Z.T @ Z / n + l2 * np.eye(Z.shape[1]), Z.T @ yc / n)
sol = np.append(w, y.mean())
rel = np.max(np.abs(theta - sol)) / np.max(np.abs(sol))
print("ridge: max relative difference to the closed form %.3g" % rel)
assert rel < 1e-8
PY
echo PASSED
