# test_bad_input.sh - the bad-input corpus (tests/bad/make_corpus.py builds tests/data/bad/ here):
# every damaged or hostile dataset and job file is refused with exit 1 or 2 and one line on stderr
# matching the case's pattern, within 10 s, writing nothing; every 8th also at 2 ranks.
source "$(dirname "$0")/lib.sh"

"$PYTHON" "$SRC_DIR/tests/bad/make_corpus.py" "$work/tests/data/bad"
cd "$work/tests/data/bad"
"$PYTHON" - "$MBATCH" "$MPIEXEC" <<'PY'
import json, os, re, subprocess, sys, time
mbatch, mpiexec = sys.argv[1], sys.argv[2]
cases = json.load(open("cases.json"))
before = sorted(os.listdir("."))
bad = 0
for i, c in enumerate(cases):
    runs = [("1 rank", [mbatch, "train", c["job"]])]
    if i % 8 == 0:
        runs.append(("2 ranks", [mpiexec, "-n", "2", mbatch, "train", c["job"]]))
    for label, cmd in runs:
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=30)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = None, "(timed out)"
        dt = time.time() - t0
        ours = [l for l in err.splitlines() if l.startswith("mbatch")]
        problems = []
        if rc not in c["codes"]:
            problems.append("exit %s, expected %s" % (rc, c["codes"]))
        if len(ours) != 1:
            problems.append("%d mbatch lines on stderr" % len(ours))
        elif not re.search(c["pattern"], ours[0]):
            problems.append("message does not match /%s/" % c["pattern"])
        if label == "1 rank" and len([l for l in err.splitlines() if l.strip()]) != 1:
            problems.append("stderr is not one line")
        if dt > 10:
            problems.append("took %.1f s" % dt)
        if os.path.exists("runs"):
            problems.append("created %s" % os.listdir("runs"))
            subprocess.run(["rm", "-rf", "runs"])
        now = sorted(os.listdir("."))
        if now != before:
            problems.append("created files %s" % sorted(set(now) - set(before)))
            before = now
        msg = ours[0] if ours else err.strip()[:200]
        print("%-20s %-7s exit %s %.2fs %s: %s" % (c["name"], label, rc, dt,
              "ok" if not problems else "FAIL (" + "; ".join(problems) + ")", msg))
        bad += bool(problems)
print("%d passed, %d failed" % (sum(1 + (i % 8 == 0) for i in range(len(cases))) - bad, bad))
sys.exit(1 if bad else 0)
PY
echo PASSED
