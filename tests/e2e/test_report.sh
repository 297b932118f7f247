# test_report.sh - `mbatch report` of a 2-rank run: every number in the page's SVG and KPI table
# equals metrics.h5 (h5py), the page is self-contained, headless Chromium renders it to a PNG that
# is not blank and shows the charts' colours; `inspect --csv` and predict's throughput attribute.
# MBATCH_REPORT_PNG=path copies the screenshot there (that is how docs/report.png is made).
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 6000 --cols 8 --seed 5 --out data.h5 >/dev/null
job j.json '{"name": "demo", "dataset": {"path": "data.h5", "X": "/X", "y": "/y"},
  "model": {"type": "logistic", "l2": 0.0001},
  "optimizer": {"type": "adam", "lr": 0.05, "schedule": {"type": "cosine", "warmup_epochs": 1}},
  "batch": {"size": 500}, "epochs": 8}'
mb 2 train j.json >train.log
"$MBATCH" report runs/demo | tee report.log
grep -q "wrote runs/demo/report.html" report.log || fail "report did not say where it wrote"
[ -s runs/demo/report.html ] || fail "no runs/demo/report.html"
"$MBATCH" report runs/demo --out custom.html >/dev/null
[ -s custom.html ] || fail "--out custom.html was not written"

# A directory that is not a run fails with exit 3 and names the file it looked for.
mkdir -p empty
rc=0
"$MBATCH" report empty 2>err.txt || rc=$?
[ "$rc" -eq 3 ] || fail "report of an empty directory: exit $rc, expected 3"
grep -q "empty/metrics.h5" err.txt || fail "the error does not name empty/metrics.h5: $(cat err.txt)"

"$MBATCH" inspect --csv runs/demo/metrics.h5 >metrics.csv
mb 2 predict --model runs/demo/model.h5 --data data.h5 --out pred.h5 --quiet

"$PYTHON" - <<'PY'
import csv, h5py, math, numpy as np
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.series, self.cur, self.ranks, self.rank, self.kpi = {}, None, {}, None, {}
        self.tags, self.bad = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href") or (v and ("http://" in v or "https://" in v) and k != "xmlns"):
                self.bad.append((tag, k, v))
        if tag == "g" and "data-series" in a:
            self.cur = a["data-series"]
            self.series[self.cur] = []
        if tag == "circle" and self.cur:
            self.series[self.cur].append((int(a["data-epoch"]), float(a["data-value"])))
        if tag == "g" and "data-rank" in a:
            self.rank = int(a["data-rank"])
        if tag == "rect" and "data-kind" in a:
            self.ranks[(self.rank, a["data-kind"])] = float(a["data-value"])
        if tag == "td" and "data-kpi" in a:
            self.kpi[a["data-kpi"]] = float(a["data-value"])
    def handle_endtag(self, tag):
        if tag == "g":
            self.cur = None

def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b

with h5py.File("runs/demo/metrics.h5", "r") as f:
    ep, rk, attrs = f["epochs"][()], f["ranks"][()], dict(f.attrs)
page = Page()
page.feed(open("runs/demo/report.html").read())
assert not page.bad, "the page references outside resources: %r" % page.bad
assert "script" not in page.tags and "svg" in page.tags

# Every curve: one point per epoch, the value of metrics.h5 to the last bit.
expect = {"train_loss": ep["train_loss"], "val_loss": ep["val_loss"],
          "val_metric": ep["val_metric"], "lr": ep["lr"], "batch_size": ep["batch_size"],
          "samples_per_s": ep["samples_per_s"], "compute_s": ep["compute_s"],
          "comm_s": ep["comm_s"]}
for key, col in expect.items():
    pts = page.series.get(key)
    assert pts is not None, "no series %s in the page" % key
    assert [e for e, _ in pts] == list(ep["epoch"] + 1), (key, pts)
    for (e, v), want in zip(pts, col):
        assert same(v, float(want)), "%s epoch %d: page %r, metrics.h5 %r" % (key, e, v, want)
    print("series %-13s %d points equal metrics.h5" % (key, len(pts)))
assert len(ep) == 8 and list(ep["batch_size"]) == [500] * 8

# The rank bars: both ranks, compute/communication/I-O seconds of /ranks.
assert len(rk) == 2
for row in rk:
    r = int(row["rank"])
    for kind, col in (("compute", "compute_s"), ("communication", "comm_s"), ("io", "io_s")):
        v = page.ranks[(r, kind)]
        assert same(v, float(row[col])), (r, kind, v, row[col])
        assert v >= 0
    assert row["io_s"] > 0, "rank %d read its shard: io_s must be > 0" % r
print("rank bars equal /ranks:", [(int(x["rank"]), float(x["compute_s"]), float(x["comm_s"]),
                                   float(x["io_s"])) for x in rk])

# The KPI table equals the attributes; derived figures checked by their definitions.
for key in ("completion_s", "samples_per_s", "errors", "core_s_per_1000", "utilization",
            "final_train_loss", "final_val_loss", "final_val_metric"):
    assert same(page.kpi[key], float(attrs[key])), (key, page.kpi[key], attrs[key])
steps = int(ep["step"][-1])
assert page.kpi["error_rate"] == float(attrs["errors"]) / steps
util = rk["compute_s"].sum() / (attrs["completion_s"] * len(rk))
assert abs(attrs["utilization"] - util) <= 1e-12 * util, (attrs["utilization"], util)
assert 0 < attrs["utilization"] <= 1
samples = 8 * int(round(6000 * 0.9))
assert abs(attrs["samples_per_s"] * attrs["completion_s"] - samples) < 1e-6 * samples
cost = attrs["completion_s"] * 2 / (samples / 1000)
assert abs(attrs["core_s_per_1000"] - cost) < 1e-9 * cost
assert attrs["final_train_loss"] == ep["train_loss"][-1]
print("KPIs equal metrics.h5:", {k: page.kpi[k] for k in sorted(page.kpi)})

# inspect --csv: the same table, full precision, epochs from 1.
rows = list(csv.DictReader(open("metrics.csv")))
assert len(rows) == len(ep)
for row, e in zip(rows, ep):
    assert int(row["epoch"]) == e["epoch"] + 1 and int(row["step"]) == e["step"]
    for k in ("train_loss", "val_loss", "val_metric", "lr", "grad_norm", "epoch_s", "samples_per_s",
              "compute_s", "comm_s", "io_s", "imbalance"):
        assert same(float(row[k]), float(e[k])), (k, row[k], e[k])
print("inspect --csv equals /epochs (%d rows)" % len(rows))

with h5py.File("pred.h5", "r") as f:
    ips, secs, n = float(f.attrs["items_per_s"]), float(f.attrs["predict_s"]), len(f["label"])
assert secs > 0 and ips == n / secs, (ips, secs, n)
print("predict throughput: %.0f items/s (%d rows in %.4f s)" % (ips, n, secs))
PY

# Headless Chromium: the page renders to a PNG that is not blank. (--disable-dev-shm-usage:
# containers often have a tiny /dev/shm.)
command -v chromium >/dev/null || fail "chromium is not installed (apt-get install chromium)"
profile=$(mktemp -d)
rc=0
HOME="$profile" timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$profile" --screenshot="$PWD/report.png" --window-size=1200,900 \
    "file://$PWD/runs/demo/report.html" >chromium.log 2>&1 || rc=$?
rm -rf "$profile"
[ "$rc" -eq 0 ] && [ -s report.png ] || { cat chromium.log >&2; fail "chromium: exit $rc, no PNG"; }

"$PYTHON" - <<'PY'
import struct, zlib
data = open("report.png", "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, hdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = hdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, hdr
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, pixels = bytearray(stride), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    pixels.extend(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
    prev = line
colours = set(pixels)
ink = sum(1 for p in pixels if p != b"\xff\xff\xff") / len(pixels)
print("report.png: %dx%d, %d distinct colours, %.1f%% non-white" % (w, h, len(colours), 100 * ink))
assert len(colours) >= 50 and ink > 0.03, "the screenshot looks blank"
# The legend swatches of the loss chart are solid: training (#3b6fb6) and validation (#d1495b).
for rgb in (b"\x3b\x6f\xb6", b"\xd1\x49\x5b"):
    assert rgb in colours, "colour %s of the loss chart is not in the screenshot" % rgb.hex()
PY
if [ -n "${MBATCH_REPORT_PNG:-}" ]; then cp report.png "$MBATCH_REPORT_PNG"; fi
echo PASSED
