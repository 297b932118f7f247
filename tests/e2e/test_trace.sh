# test_trace.sh - "trace": true on 2 ranks: trace.json is valid Chrome Trace Event JSON, every
# event has name/ph/ts/pid/tid, both ranks are there with every span kind, spans nest properly per
# (pid, tid), the allreduce of each step overlaps on both ranks (one time axis), and a tiny buffer
# (MBATCH_TRACE_CAPACITY) thins the timeline by step but keeps it bounded and nested.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind softmax --classes 3 --rows 3000 --cols 5 --seed 2 --out data.h5 >/dev/null
job j.json '{"name": "tr", "dataset": {"path": "data.h5", "X": "/X", "y": "/y"},
  "model": {"type": "softmax"}, "optimizer": {"type": "sgd", "lr": 0.2, "momentum": 0.5},
  "batch": {"size": 300}, "epochs": 4, "checkpoint": {"every_steps": 5}, "trace": true}'
mb 2 train j.json >train.log
grep -q "wrote the timeline of every rank to runs/tr/trace.json" train.log ||
    fail "train did not report the trace: $(cat train.log)"

# The same job untraced writes no trace.json.
mb 2 train j.json --set trace=false --set run_dir=runs/off >/dev/null
[ ! -e runs/off/trace.json ] || fail "trace=false wrote runs/off/trace.json"

# A buffer of 40 spans per rank: thinned, bounded, still nested.
MBATCH_TRACE_CAPACITY=40 mb 2 train j.json --set run_dir=runs/small >/dev/null

"$PYTHON" - <<'PY'
import json
from collections import defaultdict
from decimal import Decimal

def load(path):
    # Decimal: containment is checked on the exact printed microseconds.
    with open(path) as f:
        doc = json.load(f, parse_float=Decimal)
    ev = doc["traceEvents"]
    for e in ev:
        for k in ("name", "ph", "ts", "pid", "tid"):
            assert k in e, "%s: event without %s: %r" % (path, k, e)
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0, e
    return doc, ev

def check_nesting(path, ev):
    by = defaultdict(list)
    for e in ev:
        if e["ph"] == "X":
            by[(e["pid"], e["tid"])].append(e)
    for key, spans in by.items():
        spans.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in spans:
            end = e["ts"] + e["dur"]
            while stack and stack[-1][1] <= e["ts"]:
                stack.pop()
            if stack:
                assert end <= stack[-1][1], "%s %s: %s [%s, %s] overlaps %s ending at %s" % (
                    path, key, e["name"], e["ts"], end, stack[-1][0], stack[-1][1])
            stack.append((e["name"], end))
    return by

doc, ev = load("runs/tr/trace.json")
by = check_nesting("trace.json", ev)
pids = sorted({e["pid"] for e in ev})
assert pids == [0, 1], pids
names = {e["args"]["name"] for e in ev if e["name"] == "process_name"}
assert any(n.startswith("rank 0") for n in names) and any(n.startswith("rank 1") for n in names)
steps_per_epoch, epochs = 9, 4  # 2700 training rows / 300
for pid in (0, 1):
    spans = by[(pid, 0)]
    count = defaultdict(int)
    for e in spans:
        count[e["name"]] += 1
    print("rank %d: %s" % (pid, dict(sorted(count.items()))))
    assert count["read"] == 1 and count["epoch"] == epochs and count["validation"] == epochs
    assert count["shuffle"] == epochs
    for k in ("compute", "allreduce", "optimizer step"):
        assert count[k] == epochs * steps_per_epoch, (k, count[k])
    # 36 steps: checkpoints at steps 5..35 (7), at each epoch end (4, one coinciding), model.h5.
    assert count["checkpoint"] >= epochs + 1, count["checkpoint"]
    ar = [e for e in spans if e["name"] == "allreduce"]
    assert all(e["args"]["bytes"] == ar[0]["args"]["bytes"] >= 8 * 6 * 3 for e in ar)
    # Every compute/allreduce/step/validation span lies inside an epoch span.
    ep = [(e["ts"], e["ts"] + e["dur"]) for e in spans if e["name"] == "epoch"]
    for e in spans:
        if e["name"] in ("compute", "allreduce", "optimizer step", "validation", "shuffle"):
            assert any(a <= e["ts"] and e["ts"] + e["dur"] <= b for a, b in ep), e

# One time axis: a step's allreduce cannot end on one rank before it began on the other.
tol = Decimal(20000)  # microseconds of clock alignment (the barrier at the start)
ar = {(e["pid"], e["args"]["step"]): e for e in ev if e["name"] == "allreduce"}
for step in range(1, epochs * steps_per_epoch + 1):
    a, b = ar[(0, step)], ar[(1, step)]
    assert a["ts"] <= b["ts"] + b["dur"] + tol and b["ts"] <= a["ts"] + a["dur"] + tol, (a, b)
print("trace.json: %d events, both ranks, nested; allreduces overlap across ranks" % len(ev))
print("otherData:", doc["otherData"])

doc, ev = load("runs/small/trace.json")
by = check_nesting("small/trace.json", ev)
other = doc["otherData"]
assert other["capacity_per_rank"] == 40 and other["spans_dropped_by_sampling"] > 0, other
stride = other["step_stride"]
assert stride >= 2, other
for pid in (0, 1):
    spans = by[(pid, 0)]
    assert 0 < len(spans) <= 40, len(spans)
    assert sum(e["name"] == "read" for e in spans) == 1  # run-level spans are always kept
    kept = sorted({e["args"]["step"] for e in spans if e["cat"] == "step"})
    assert kept and all(s % stride == 0 for s in kept), (stride, kept)
print("capacity 40: %d spans kept, %d dropped, step stride %d, still nested" %
      (other["spans"], other["spans_dropped_by_sampling"], stride))
PY
echo PASSED
