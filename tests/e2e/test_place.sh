#!/usr/bin/env bash
# test_place.sh - `mbatch place` plans checked against the topology XML read by a Python oracle
# (allowed cpuset, cores, GPU locality), its warnings and errors; then `mpirun -n 2 mbatch train`
# puts the ranks on different cores, whether the launcher or mbatch binds them.
source "$(dirname "$0")/lib.sh"
topo="$SRC_DIR/tests/data/topologies"

"$MBATCH" place --help | grep -q -- "--topology FILE.xml" || fail "place --help"

# Plans for several N on every topology, all checked by the oracle afterwards.
: >cases.txt
for xml in "$topo"/*.xml; do
    cores=$("$MBATCH" place --topology "$xml" --ranks 1 2>/dev/null |
        sed -n 's/.* cores (\([0-9]*\) allowed).*/\1/p')
    [ -n "$cores" ] || fail "$xml: no core count in the summary"
    for n in 1 2 3 $((cores / 2 + 1)) "$cores" $((cores + 1)); do
        for policy in auto core gpu; do
            stem="$(basename "$xml")-$n-$policy"
            "$MBATCH" place --topology "$xml" --ranks "$n" --policy "$policy" --json \
                >"$stem.json" 2>"$stem.warn" || fail "place $xml --ranks $n --policy $policy"
            echo "$xml|$n|$policy" >>cases.txt
        done
    done
done
"$PYTHON" - cases.txt <<'PY' || fail "a plan fails the oracle"
import json, sys
import xml.etree.ElementTree as ET

def mask(s):  # hwloc cpuset "0x000000ff,,0xffffffff" (32-bit words, empty = 0) -> indices
    v = 0
    for w in s.split(","):
        v = v << 32 | (int(w, 16) if w else 0)
    return {i for i in range(v.bit_length()) if v >> i & 1}
def check(xml, n, policy, plan, warn):
    root = ET.parse(xml).getroot()
    parent = {c: p for p in root.iter() for c in p}
    machine = root.find("object")
    allowed = mask(machine.get("allowed_cpuset") or machine.get("cpuset"))
    cores = [mask(o.get("cpuset")) & allowed for o in root.iter("object") if o.get("type") == "Core"]
    cores = [c for c in cores if c]
    core_of = {pu: i for i, c in enumerate(cores) for pu in c}
    rows = json.load(open(plan))
    warnings = open(warn).read()
    assert len(rows) == n, (len(rows), n)
    for i, r in enumerate(rows):
        assert sorted(r) == ["cores", "gpu", "gpu_busid", "numa", "pus", "rank"], sorted(r)
        assert r["rank"] == i and r["pus"], r
        assert set(r["pus"]) <= allowed, ("disallowed PUs", r["pus"], sorted(allowed))
    used = [{core_of[p] for p in r["pus"]} for r in rows]
    shared = any(used[i] & used[j] for i in range(n) for j in range(i + 1, n))
    gpus = {r["gpu_busid"] for r in rows if r["gpu_busid"]}
    crowded = False
    if gpus:
        def locality(busid):
            o = next(o for o in root.iter("object") if o.get("pci_busid") == busid)
            while o.get("type") in ("PCIDev", "Bridge", "OSDev"):
                o = parent[o]
            return frozenset(mask(o.get("cpuset")) & allowed)
        loc = {b: locality(b) for b in gpus}
        per = {b: sum(r["gpu_busid"] == b for r in rows) for b in gpus}
        assert max(per.values()) - min(per.values()) <= 1, per
        for r in rows:
            assert set(r["pus"]) <= loc[r["gpu_busid"]], ("outside the GPU's locality", r)
        for l in set(loc.values()):
            ranks = sum(per[b] for b in gpus if loc[b] == l)
            crowded |= ranks > len({core_of[p] for p in l})
    if n <= len(cores) and not crowded:
        assert not shared, "two ranks share a core while N <= cores"
    if n > len(cores):
        assert shared and "share a core" in warnings, warnings
    print("ok: %s N=%d %s: %d GPU(s) used, %s" % (xml.split("/")[-1], n, policy, len(gpus),
          "cores shared (warned)" if shared else "distinct cores"))

for case in open(sys.argv[1]).read().split():
    xml, n, policy = case.split("|")
    stem = "%s-%s-%s" % (xml.split("/")[-1], n, policy)
    check(xml, int(n), policy, stem + ".json", stem + ".warn")
PY

# The restricted cpuset: more ranks than allowed cores is warned about, not refused.
"$MBATCH" place --topology "$topo/16amd64-8n2c-cpusets.xml" --ranks 12 >out.txt 2>err.txt ||
    fail "place 12 ranks on 10 allowed cores"
grep -q "allowed cpuset (PUs 0-3,5-6,12-15, 10 cores) has 10 of the node's 16 PUs" err.txt ||
    fail "no small-cpuset warning: $(cat err.txt)"
grep -q "12 ranks on 10 allowed cores" err.txt || fail "no overlap warning"
# Four GPUs, two per socket: two ranks per GPU, on cores of the GPU's socket.
"$MBATCH" place --topology "$topo/power8gpudistances.xml" --ranks 8 >out.txt
grep -qE "^ +7 .*cuda3 Tesla P100-SXM2-16GB \(000b:01:00.0\)" out.txt || fail "$(cat out.txt)"

# This machine: one rank per allowed core by default.
"$MBATCH" place --json >here.json || fail "place on this machine"
"$PYTHON" -c "
import json
rows = json.load(open('here.json'))
pus = [p for r in rows for p in r['pus']]
assert rows and len(pus) == len(set(pus)), rows
assert all(len(r['cores']) == 1 for r in rows), rows
print('ok: this machine: %d ranks, one core each' % len(rows))"

# Errors.
rc=0
"$MBATCH" place --topology missing.xml --ranks 2 2>err.txt || rc=$?
[ "$rc" -eq 3 ] && grep -q "missing.xml: cannot read" err.txt || fail "missing topology: $rc"
rc=0
"$MBATCH" place --topology "$0" 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "not an hwloc XML topology" err.txt || fail "bad topology: $rc"
rc=0
"$MBATCH" place --policy cores 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "expected auto|core|numa|socket|gpu|none" err.txt || fail "policy: $rc"

# Training on this machine: two ranks, two different cores, seen from inside the ranks (the
# /ranks table is filled from each rank's hwloc_get_cpubind at the end of the run).
if [ "$(nproc)" -lt 2 ]; then
    echo "skip: one core"
    exit 0
fi
"$MBATCH" gen --kind logistic --rows 2000 --cols 4 --seed 3 --out d.h5 >/dev/null
job j.json '{"dataset": {"path": "d.h5"}, "epochs": 2, "checkpoint": {"every_epochs": 0}}'
expect 1 "placement.bind" 1 train j.json --set placement.bind=cores
check_ranks() { # RUN_DIR: two ranks, on distinct single cores
    "$PYTHON" - "$1" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1] + "/metrics.h5", "r") as f:
    r = f["ranks"][()]
b = [x.decode() for x in r["binding"]]
c = [x.decode() for x in r["cores"]]
n = [x.decode() for x in r["numa"]]
# One core each (its PUs may be several hardware threads), different cores, one NUMA node.
assert len(r) == 2 and c[0] != c[1] and all(x.isdigit() for x in c), (b, c)
assert b[0] != b[1] and all(x.isdigit() for x in n), (b, n)
print("ok: %s: ranks on cores %s (PUs %s)" % (sys.argv[1], c, b))
PY
}
mb 2 train j.json --set run_dir=launcher >out.txt 2>err.txt || fail "train: $(cat err.txt)"
grep -qE "^ +1 +[^ ]+ +[0-9]+ +[0-9]+ +(launcher|mbatch (core|gpu))" out.txt ||
    fail "no report: $(cat out.txt)"
check_ranks launcher
spare_check() { # RUN_DIR OUT NPROC: the PUs reported free of ranks (for their helper threads)
    "$PYTHON" - "$@" <<'PY'
import re, sys, h5py
run, out, nproc = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
def pus(s):
    v = set()
    for part in s.split(","):
        a, _, b = part.partition("-")
        v |= set(range(int(a), int(b or a) + 1))
    return v
with h5py.File(run + "/metrics.h5", "r") as f:
    bound = set().union(*(pus(x.decode()) for x in f["ranks"][()]["binding"]))
m = re.search(r"^mbatch: [^:]+: PUs ([0-9,-]+) run no rank", out, re.M)
spare = pus(m.group(1)) if m else set()
# Every PU of the machine is a rank's or spare, never both.
assert not spare & bound and len(spare | bound) == nproc, (spare, bound, nproc)
print("ok: %s: ranks on PUs %s, helpers on %s" % (run, sorted(bound), sorted(spare) or "theirs"))
PY
}
spare_check launcher out.txt "$(nproc)"
mb 1 train j.json --set run_dir=alone --set batch.size=100 >out.txt 2>err.txt ||
    fail "train alone: $(cat err.txt)"
grep -q "run no rank" out.txt || fail "one rank on $(nproc) PUs left none spare: $(cat out.txt)"
spare_check alone out.txt "$(nproc)"
mb 2 train j.json --set run_dir=forced --set placement.respect_launcher=false >out.txt 2>err.txt ||
    fail "train respect_launcher=false: $(cat err.txt)"
grep -qE "^ +1 +[^ ]+ +[0-9]+ +[0-9]+ +mbatch (core|gpu)" out.txt ||
    fail "the launcher's binding was kept: $(cat out.txt)"
check_ranks forced
timeout -k 5 120 "$MPIEXEC" --bind-to none -n 2 "$MBATCH" train j.json --set run_dir=self \
    >out.txt 2>err.txt || fail "train --bind-to none: $(cat err.txt)"
grep -qE "^ +1 +[^ ]+ +[0-9]+ +[0-9]+ +mbatch (core|gpu)" out.txt ||
    fail "mbatch did not bind: $(cat out.txt)"
check_ranks self
# placement.bind=none under an unbinding launcher: both ranks may run anywhere.
timeout -k 5 120 "$MPIEXEC" --bind-to none -n 2 "$MBATCH" train j.json --quiet \
    --set run_dir=none --set placement.bind=none >out.txt 2>err.txt || fail "bind=none"
"$PYTHON" -c "
import h5py
r = h5py.File('none/metrics.h5', 'r')['ranks'][()]
assert [x.decode() for x in r['binding']] == ['0-$(($(nproc) - 1))'] * 2, r['binding']
print('ok: placement.bind=none leaves both ranks on every core')"
echo "PASSED"
