"""speed.py - the speed figures of one machine in one run: read bandwidth, mbatch epochs (full
batch, B = 4096, B = 256; float64 and float32; 1 and 2 ranks) against the bandwidth floor and
against NumPy and scikit-learn doing the same work, start-up time, checkpoint overhead, and the
time to reach 1e-4 of the optimal training loss. Driven by tests/bench/speed.sh."""
import os, statistics, subprocess, sys, time

build = os.path.abspath(sys.argv[1])
rows = int(os.environ.get("SPEED_ROWS", "1000000"))
cols = int(os.environ.get("SPEED_COLS", "64"))
repeats = int(os.environ.get("SPEED_REPEATS", "3"))
l2 = 1e-4
work = os.environ.get("BENCH_DIR", "/tmp/mbatch-bench-speed")
os.makedirs(work, exist_ok=True)
os.chdir(work)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_mpi_yield_when_idle="1",
           OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
mbatch = os.path.join(build, "mbatch")


def out(line):
    print(line, flush=True)


def spread(v):
    return "median %.4g (min %.4g, max %.4g, n=%d)" % (statistics.median(v), min(v), max(v), len(v))


def sh(args, **kw):
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True, **kw).stdout


out("# %s, %d x %d, %d repeats; load average (1, 5, 15 min) at the start: %s"
    % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), rows, cols, repeats,
       " ".join(open("/proc/loadavg").read().split()[0:3])))

# 1. The floor: every process sums its share of a 512 MB array.
# With a batch size, the same bytes as 512-byte rows in mini-batch order (random rows, ascending
# inside a batch): the floor of any kernel that reads each row once in the order SGD needs.
# With batch.shuffle_block = k > 1, runs of k consecutive rows in mini-batch order; "B" stands for
# the batch size (each batch one run: batches keep their rows, epochs shuffle their order).
blocks_env = os.environ.get("SPEED_BLOCKS", "1 64 256 B").split()


def blocks_for(B):
    return sorted(set(B if b == "B" else int(b) for b in blocks_env))


floor, gfloor, seq = {}, {}, {1: [], 2: []}
bw_bin = os.path.join(build, "tests", "bench", "mbatch_bw")


def core_speed():
    line = sh(["mpirun", "-n", "1", bw_bin, "--core"])
    return float(line.split("median ")[1].split(" G")[0])


def bandwidth(np_, B=0, k=1):
    line = sh(["mpirun", "-n", str(np_), bw_bin, str(rows * cols * 8 / 2**20 / np_), "9", str(B),
               str(k)])
    return float(line.split("median ")[1].split(" GB/s")[0])


for np_ in (1, 2):
    for B, k in [(0, 1)] + [(B, k) for B in (4096, 256) for k in blocks_for(B)]:
        gbs = [bandwidth(np_, B, k) for _ in range(repeats)]
        if B == 0:
            seq[np_] += gbs
        else:
            gfloor[(np_, B, k)] = statistics.median(gbs)
        what = "sequential"
        if B:
            what = ("512-byte rows in B=%d mini-batch order" % B if k == 1 else
                    "runs of %d 512-byte rows in B=%d mini-batch order" % (k, B))
        out("read bandwidth, %d process(es), %s: %s GB/s (%s)"
            % (np_, what, spread(gbs), "pooled with every round's, below" if B == 0 else
               "the floor of that order below is the median"))

# 2. The data: generated once, reused.
data = "logistic-%dx%d.h5" % (rows, cols)
if not os.path.exists(data):
    sh([mbatch, "gen", "--kind", "logistic", "--rows", str(rows), "--cols", str(cols), "--seed", "1",
        "--out", data])

import h5py
import numpy as np


def job(name, batch, dtype, epochs, extra=""):
    bj = '"full"' if batch == "full" else str(batch)
    with open(name + ".json", "w") as f:
        f.write('{"name": "%s", "dataset": {"path": "%s", "validation_fraction": 0}, "model": '
                '{"type": "logistic", "l2": %g}, "optimizer": {"lr": 0.5}, "batch": {"size": %s}, '
                '"epochs": %d, "checkpoint": {"every_epochs": 0}, "dtype": "%s"%s}\n'
                % (name, data, l2, bj, epochs, dtype, extra))
    return name + ".json"


def train(np_, jobfile, run_dir, *sets):
    args = ["mpirun", "-n", str(np_), mbatch, "train", jobfile, "--quiet", "--set", "run_dir=" + run_dir]
    for s in sets:
        args += ["--set", s]
    subprocess.run(["rm", "-rf", run_dir], check=True)
    t0 = time.perf_counter()
    sh(args)
    wall = time.perf_counter() - t0
    with h5py.File(run_dir + "/metrics.h5", "r") as f:
        e = f["epochs"][()]
        kpis = dict(f.attrs)
    return e, wall, kpis


# 3. The peers, on the same standardized data, one thread (as one rank).
with h5py.File(data, "r") as f:
    X, y = f["X"][()], f["y"][()].astype(np.float64)
Z = np.ascontiguousarray((X - X.mean(axis=0)) / X.std(axis=0))
del X
peers = {}
w = np.zeros(cols)
t_np = []
for _ in range(max(5, repeats)):
    t0 = time.perf_counter()
    z = Z @ w + 0.1
    p = 1.0 / (1.0 + np.exp(-z))
    g = Z.T @ (p - y) / rows
    loss = np.mean(np.logaddexp(0, z) - y * z)
    t_np.append(time.perf_counter() - t0)
peers["numpy full-batch gradient"] = statistics.median(t_np)
out("NumPy hand-written full-batch gradient (float64, 1 thread): %s s per epoch; %.4g samples/s, "
    "%.3g GB/s of X" % (spread(t_np), rows / statistics.median(t_np),
                        rows * cols * 8 / statistics.median(t_np) / 1e9))
sgd_ok = True
try:
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)
except ImportError:
    sgd_ok = False
    out("scikit-learn: not installed; its lines are skipped")
if sgd_ok:
    for B in (256, 4096):
        t_sgd = []
        clf = SGDClassifier(loss="log_loss", alpha=l2, learning_rate="constant", eta0=0.05)
        perm = np.random.default_rng(0).permutation(rows)
        Zp, yp = Z[perm], y[perm]
        for _ in range(2 if B == 256 else max(3, repeats)):
            t0 = time.perf_counter()
            for s in range(0, rows, B):
                clf.partial_fit(Zp[s:s + B], yp[s:s + B], classes=[0.0, 1.0])
            t_sgd.append(time.perf_counter() - t0)
        del Zp, yp
        peers["sklearn SGD B=%d" % B] = statistics.median(t_sgd)
        out("scikit-learn SGDClassifier.partial_fit, B=%d (1 thread): %s s per epoch; %.4g samples/s"
            % (B, spread(t_sgd), rows / statistics.median(t_sgd)))

# 4. mbatch epochs: median over the epochs after the first and before the last (the last one
# writes the final checkpoint), pooled over the repeats.
# Mini-batches: every row shuffled on its own (shuffle_block 1, the default) and, for each other
# SPEED_BLOCKS value, runs of that many rows shuffled together.
# A shared VM's speed drifts over minutes, so the repeats are rounds: each round measures the
# sequential floor again and runs every configuration once, float64 and float32 back to back;
# the floor is the median over all rounds, and each figure pools its epochs from every round.
# Each run also sets probe_bandwidth: after every epoch each rank reads its rows once from start
# to end (mbatch_bw's read), so every epoch has a floor measured within milliseconds of it; the
# median of read_s / epoch_s is the paired fraction, which a slow minute moves far less.
epochs_for = {"full": 12, 4096: 6, 256: 4}
configs = [("full", 1)] + [(B, k) for B in (4096, 256) for k in blocks_for(B)]
results, ep_of, read_of, round_of, round_core = {}, {}, {}, {}, []
for r in range(repeats):
    for np_ in (1, 2):
        seq[np_].append(bandwidth(np_))
    # The core's speed right before the round's float64/float32 pairs (mbatch_bw --core).
    round_core.append(core_speed())
    for batch, k in configs:
        for np_ in (1, 2):
            for dtype in ("float64", "float32"):
                name = "speed-%s-%s-sb%d-np%d" % (dtype, batch, k, np_)
                jf = job(name, batch, dtype, epochs_for[batch])
                e, wall, kpis = train(np_, jf, name, "batch.shuffle_block=%d" % k,
                                      "probe_bandwidth=true")
                key = (dtype, batch, k, np_)
                ep_of.setdefault(key, []).extend(e["epoch_s"][1:-1])
                round_of.setdefault(key, []).append(statistics.median(e["epoch_s"][1:-1]))
                read_of.setdefault(key, []).extend(e["read_s"][1:-1])
for np_ in (1, 2):
    floor[np_] = statistics.median(seq[np_])
    out("read bandwidth, %d process(es), sequential, over the start and every round: %s GB/s "
        "(the floor below is the median)" % (np_, spread(seq[np_])))
for dtype in ("float64", "float32"):
    for batch, k in configs:
        for np_ in (1, 2):
            ep = ep_of[(dtype, batch, k, np_)]
            t = statistics.median(ep)
            results[(dtype, batch, k, np_)] = t
            bytes_x = rows * cols * (8 if dtype == "float64" else 4)
            gb = bytes_x / t / 1e9
            ratios = []
            ratios.append("%.2fx NumPy full-batch gradient" % (peers["numpy full-batch gradient"] / t))
            for B in (256, 4096):
                if "sklearn SGD B=%d" % B in peers:
                    ratios.append("%.1fx sklearn SGD B=%d" % (peers["sklearn SGD B=%d" % B] / t, B))
            gather = ""
            label = "batch=%s" % batch
            if batch != "full":
                label += " shuffle_block=%d" % k
                gather = ", %.2f of the gathered-rows floor in that order (%.3g GB/s)" % (
                    gb / gfloor[(np_, batch, k)], gfloor[(np_, batch, k)])
            pr = [rd / es for rd, es in zip(read_of[(dtype, batch, k, np_)], ep)]
            paired = ", fraction of one read of its rows right after each epoch: %s, that " \
                "read %.3g GB/s" % (spread(pr),
                                    bytes_x / statistics.median(read_of[(dtype, batch, k, np_)]) / 1e9)
            out("mbatch %s %s %d rank(s): %.4g samples/s, %.3g GB/s of X, %.2f of the %d-process "
                "sequential floor (%.3g GB/s)%s%s; epoch %s s; %s"
                % (dtype, label, np_, rows / t, gb, gb / floor[np_], np_, floor[np_], gather,
                   paired, spread(ep), ", ".join(ratios)))
# float32 over float64 pooled, and round by round: the two run back to back in a round, so a
# slow minute that lands on one of them in one round moves one of the paired ratios, not all.
# Each round's core speed is given with it: float32 epochs are bound by the core (the kernel's
# instructions) more than float64 ones (the memory), so a round on a slowed core has a lower ratio.
out("core speed at the start of each round: %s G dependent additions/s (about one a clock "
    "cycle on an idle core)" % ", ".join("%.2f" % x for x in round_core))
for batch, k in configs:
    for np_ in (1, 2):
        r64, r32 = round_of[("float64", batch, k, np_)], round_of[("float32", batch, k, np_)]
        paired = [a / b for a, b in zip(r64, r32)]
        out("float32 / float64 samples/s, batch=%s%s %d rank(s): %.2fx (round by round: %s; "
            "median %.2fx)"
            % (batch, "" if batch == "full" else " shuffle_block=%d" % k, np_,
               results[("float64", batch, k, np_)] / results[("float32", batch, k, np_)],
               ", ".join("%.2f (core %.2f)" % (x, cs) for x, cs in zip(paired, round_core)),
               statistics.median(paired)))

# Threads: 1 rank x 2 threads against 2 ranks, float64, rows shuffled one by one, run back to
# back in each round (the same rows and bits; mpirun binds each of the <= 2 ranks to one core).
for batch in ("full", 4096, 256):
    ep = {1: [], 2: []}
    for r in range(repeats):
        for np_, nt in ((2, 1), (1, 2)):
            name = "speed-threads-%s-%dx%d" % (batch, np_, nt)
            e, _, _ = train(np_, job(name, batch, "float64", epochs_for[batch]), name,
                            "threads=%d" % nt)
            ep[nt].extend(e["epoch_s"][1:-1])
    t1, t2 = statistics.median(ep[2]), statistics.median(ep[1])
    out("mbatch float64 batch=%s 1 rank x 2 threads: epoch %s s; 2 ranks: %s s; threads / ranks "
        "samples/s %.2fx" % (batch, spread(ep[2]), spread(ep[1]), t2 / t1))

# 5. Start-up: a 1000-row job end to end (launch, MPI, read, one epoch, model), and the set-up of
# the 1M-row job (everything but the epochs: launch, read, standardize, final model write).
tiny = "tiny-1000x%d.h5" % cols
if not os.path.exists(tiny):
    sh([mbatch, "gen", "--kind", "logistic", "--rows", "1000", "--cols", str(cols), "--seed", "1",
        "--out", tiny])
with open("tiny.json", "w") as f:
    f.write('{"dataset": {"path": "%s", "validation_fraction": 0}, "model": {"type": "logistic"}, '
            '"epochs": 1}\n' % tiny)
for np_ in (1, 2):
    walls, setups = [], []
    for r in range(max(3, repeats)):
        e, wall, _ = train(np_, "tiny.json", "speed-tiny")
        walls.append(wall)
        e, wall, kp = train(np_, job("speed-setup", "full", "float64", 2), "speed-setup")
        setups.append(wall - float(np.sum(e["epoch_s"])))
    out("start-up, %d rank(s): a 1000 x %d job end to end (mpirun to exit) %s s; a %d x %d job's "
        "time outside its epochs (launch, read %d MiB, set-up, model write) %s s"
        % (np_, cols, spread(walls), rows, cols, rows * cols * 8 // 2**20, spread(setups)))

# 6. Checkpoint overhead: every epoch vs never, full batch, interleaved.
for np_ in (1, 2):
    with_ck, without, io = [], [], []
    for r in range(repeats):
        e, _, _ = train(np_, job("speed-ck", "full", "float64", 10), "speed-ck1", "checkpoint.every_epochs=1")
        with_ck += list(e["epoch_s"][1:-1])
        io += list(e["io_s"][1:-1])
        e, _, _ = train(np_, job("speed-ck", "full", "float64", 10), "speed-ck0")
        without += list(e["epoch_s"][1:-1])
    a, b = statistics.median(with_ck), statistics.median(without)
    # The difference of two medians moves with the machine; io_s times the write itself.
    out("checkpoint every epoch, full batch, %d rank(s): epoch %.4g s vs %.4g s without: +%.4g s "
        "(%.1f%%) per checkpoint; the write itself (io_s) %s s"
        % (np_, a, b, a - b, 100 * (a - b) / b, spread(io)))

# 7. Time to within 1e-4 of the optimal training loss (mean log-loss + l2/2 |w|^2).
def first_within(run, tol):
    with h5py.File(run + "/metrics.h5", "r") as f:
        e, g = f["epochs"][()], f["gap"][()]
    hit = np.nonzero(g["gap"] <= tol)[0]
    opt = g["optimum"][0]
    if len(hit) == 0:
        return None, len(e), opt
    return float(np.sum(e["epoch_s"][: hit[0] + 1])), hit[0] + 1, opt


ttt = {}
for np_ in (1, 2):
    for solver, sets in (("newton", ["optimizer.type=newton", "optimizer.tol=1e-10"]),
                         ("lbfgs", ["optimizer.type=lbfgs", "optimizer.tol=1e-8"])):
        times, walls = [], []
        for r in range(repeats):
            jf = job("speed-opt", "full", "float64", 1, ', "report_gap": true')
            e, wall, kp = train(np_, jf, "speed-opt-%s" % solver, *sets)
            t, it, opt = first_within("speed-opt-%s" % solver, 1e-4)
            if t is not None:
                times.append(t)
                walls.append(wall)
        ttt[(solver, np_)] = statistics.median(times) if times else None
        if times:
            out("mbatch %s, %d rank(s): %s s to within 1e-4 of the optimal loss (%d iterations; "
                "whole run incl. launch and read: %s s)" % (solver, np_, spread(times), it, spread(walls)))
        else:
            out("mbatch %s, %d rank(s): did not reach 1e-4 of the optimal loss" % (solver, np_))
if sgd_ok:
    def objective(m):
        z = Z @ m.coef_[0] + m.intercept_[0]
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * m.coef_[0] @ m.coef_[0]
    sk = None
    for it in range(1, 200):
        t0 = time.perf_counter()
        m = LogisticRegression(C=1.0 / (l2 * rows), tol=1e-14, max_iter=it).fit(Z, y)
        t = time.perf_counter() - t0
        if objective(m) - opt <= 1e-4:
            ts = [t]
            for r in range(repeats - 1):
                t0 = time.perf_counter()
                LogisticRegression(C=1.0 / (l2 * rows), tol=1e-14, max_iter=it).fit(Z, y)
                ts.append(time.perf_counter() - t0)
            sk = (ts, it)
            break
    if sk:
        t_sk = statistics.median(sk[0])
        out("scikit-learn LogisticRegression(lbfgs), 1 thread: %s s to within 1e-4 of the optimal "
            "loss (max_iter %d, the smallest that gets there)" % (spread(sk[0]), sk[1]))
        for (solver, np_), t in ttt.items():
            if t:
                out("time to 1e-4, mbatch %s %d rank(s) vs scikit-learn lbfgs: %.2fx (scikit-learn time / mbatch time)"
                    % (solver, np_, t_sk / t))
    else:
        out("scikit-learn lbfgs did not reach 1e-4 of the optimal loss in 199 iterations")

# Streaming (io.memory_budget a quarter of the data): tests/bench/stream.sh on the same file.
out("# streaming vs in-memory, full batch, B=4096 and lbfgs (tests/bench/stream.sh)")
for line in subprocess.run(["bash", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "stream.sh"), build],
                           capture_output=True, text=True).stdout.splitlines():
    out(line)
out("# load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[0:3]))
