# test_dtype.sh - "dtype": "float32" training: close to float64 (the rows rounded to float32,
# the sums still float64), as rank-count independent as float64 (full batch 1e-12, mini-batch
# 1e-10), bitwise rank-count independent in reproducible mode, and refused values; the portable
# kernel (MBATCH_KERNEL=portable) trains to the same bits as the AVX2 one.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 3001 --cols 37 --seed 5 --out data.h5
job full.json '{"dataset": {"path": "data.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"lr": 1.0}, "batch": {"size": "full"}, "epochs": 40,
  "checkpoint": {"every_epochs": 0}}'
mb 1 train full.json --quiet --set run_dir=f64
for np in 1 2 3; do
    mb "$np" train full.json --quiet --set run_dir=f32-np$np --set dtype=float32
done
# Mini-batches gather their rows by index; linear and softmax go through the other kernel paths.
for np in 1 3; do
    mb "$np" train full.json --quiet --set run_dir=mb32-np$np --set dtype=float32 \
        --set batch.size=256 --set optimizer.momentum=0.9 --set optimizer.lr=0.1
    mb "$np" train full.json --quiet --set run_dir=rep32-np$np --set dtype=float32 \
        --set batch.size=100 --set reproducible=true
done
mb 1 train full.json --quiet --set run_dir=mb64 --set batch.size=256 \
    --set optimizer.momentum=0.9 --set optimizer.lr=0.1
expect 1 "dtype.*float16|float16.*dtype" 1 train full.json --set dtype=float16 --set run_dir=bad
# The portable kernel (MBATCH_KERNEL=portable, read at the kernel's first call) trains to the same
# bits as the default one (AVX2 where the CPU has it), on 2 ranks: float64 full batch and float32
# mini-batches (rows gathered by index; 37 features leave a part group of four in every row).
for path in default portable; do
    kenv=()
    [ "$path" = portable ] && kenv=(env MBATCH_KERNEL=portable)
    "${kenv[@]}" timeout -k 5 120 "$MPIEXEC" -n 2 "$MBATCH" train full.json --quiet \
        --set run_dir=k-$path-f64
    "${kenv[@]}" timeout -k 5 120 "$MPIEXEC" -n 2 "$MBATCH" train full.json --quiet \
        --set run_dir=k-$path-mb32 --set dtype=float32 --set batch.size=256 \
        --set optimizer.momentum=0.9 --set optimizer.lr=0.1
done

"$PYTHON" - <<'PY'
import numpy as np
from mbcheck import theta
def rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))
ref = theta("f32-np1")
for np_ in (2, 3):
    r = np.max(np.abs(theta("f32-np%d" % np_) - ref) / np.maximum(np.abs(ref), 1e-300))
    print("float32 full batch, %d ranks vs 1: max relative difference %.3g" % (np_, r))
    assert r < 1e-12, r
r = np.max(np.abs(theta("mb32-np3") - theta("mb32-np1")) / np.maximum(np.abs(theta("mb32-np1")), 1e-300))
print("float32 mini-batch 256, 3 ranks vs 1: max relative difference %.3g" % r)
assert r < 1e-10, r
for what in ("f64", "mb32"):
    a, b = theta("k-default-" + what), theta("k-portable-" + what)
    same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
    print("%s, 2 ranks: portable kernel bitwise identical to the default: %s" % (what, same))
    assert same, rel(a, b)
same = np.array_equal(theta("rep32-np1").view(np.uint64), theta("rep32-np3").view(np.uint64))
print("float32 reproducible, 3 ranks vs 1 bitwise identical: %s" % same)
assert same
# float32 rounds each standardized value by at most 2^-24 relative: the models stay within 1e-5.
for a, b, what in (("f32-np1", "f64", "full batch"), ("mb32-np1", "mb64", "mini-batch")):
    r = rel(theta(a), theta(b))
    print("float32 vs float64, %s: max difference %.3g of the largest weight" % (what, r))
    assert 0 < r < 1e-5, r
PY
