#!/bin/sh
# test_eval_report.sh - `hsi report` agrees to the last printed digit with an
# independent computation (numpy + scikit-learn) of the same figures on the
# real Indian Pines ground truth: OA, AA, kappa and its 95% interval, per-class
# producer's / user's accuracy and F1, pixel counts, the confusion matrix, and
# the mean +- std of two runs. Skips (77) without python3 + numpy/scipy/sklearn
# or without the reference data.
. "$HSI_SRCDIR/tests/setup.sh"

GT="$DATA/indian_pines/Indian_pines_gt.mat"
[ -f "$GT" ] || { echo "SKIP: $GT not found"; exit 77; }
PY=
for p in "${HSI_PYTHON3:-}" python3 /usr/bin/python3; do
  [ -n "$p" ] || continue
  if "$p" -c 'import numpy, scipy.io, sklearn.metrics' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "SKIP: no python3 with numpy, scipy and scikit-learn"; exit 77; }

# Two predictions: the truth with 20% (run 1) and 30% (run 2) of the pixels
# replaced by random classes and 1% left at 0, as ENVI rasters.
"$PY" - "$GT" "$TMP" <<'EOF' || fail "python could not write the predictions"
import sys, numpy as np, scipy.io as sio
gt = sio.loadmat(sys.argv[1])['indian_pines_gt'].astype(np.uint16)
for run, share in ((1, 0.2), (2, 0.3)):
    rng = np.random.default_rng(run)
    p = gt.copy()
    flip = rng.random(gt.shape) < share
    p[flip] = rng.integers(1, 17, size=int(flip.sum()))
    p[rng.random(gt.shape) < 0.01] = 0
    p.tofile(f"{sys.argv[2]}/pred{run}.dat")
    with open(f"{sys.argv[2]}/pred{run}.hdr", "w") as h:
        h.write("ENVI\nsamples = 145\nlines = 145\nbands = 1\nheader offset = 0\n"
                "file type = ENVI Standard\ndata type = 12\ninterleave = bsq\nbyte order = 0\n")
EOF

expect_ok "split" -- "$HSI" split --truth "$GT" --fraction 0.1 --seed 3 -o "$TMP/s"
expect_ok "train to ENVI" -- "$HSI" convert --labels "$TMP/s_train.tif" -o "$TMP/train.dat"
expect_ok "report text" -- "$HSI" report --truth "$GT" --pred "$TMP/pred1.dat" --train "$TMP/s_train.tif" -o "$TMP/report.txt"
expect_ok "report csv" -- "$HSI" report --truth "$GT" --pred "$TMP/pred1.dat" --train "$TMP/s_train.tif" --format csv -o "$TMP/report.csv"
expect_ok "report json" -- "$HSI" report --truth "$GT" --pred "$TMP/pred1.dat" --train "$TMP/s_train.tif" --format json -o "$TMP/report.json"
expect_ok "report runs" -- "$HSI" report --truth "$GT" --runs "$TMP/pred1.dat,$TMP/pred2.dat" --train "$TMP/s_train.tif" -o "$TMP/runs.txt"

"$PY" - "$GT" "$TMP" <<'EOF' || fail "hsi report differs from numpy/scikit-learn (see above)"
import sys, re, json, numpy as np, scipy.io as sio
from sklearn.metrics import (confusion_matrix, accuracy_score, recall_score, precision_score,
                             f1_score, cohen_kappa_score)
gt = sio.loadmat(sys.argv[1])['indian_pines_gt'].astype(np.int64)
d = sys.argv[2]

def envi(path):
    hdr = open(path[:-4] + ".hdr").read()
    dt = int(re.search(r"data type\s*=\s*(\d+)", hdr).group(1))
    off = re.search(r"header offset\s*=\s*(\d+)", hdr)
    dtype = {1: np.uint8, 2: np.int16, 12: np.uint16}[dt]
    a = np.fromfile(path, dtype=dtype, offset=int(off.group(1)) if off else 0)
    return a.reshape(145, 145).astype(np.int64)

train = envi(f"{d}/train.dat")
bad = []
def same(what, mine, theirs):
    if mine != theirs:
        bad.append(f"{what}: hsi printed {mine!r}, numpy/sklearn give {theirs!r}")

def figures(pred):
    scored = (gt > 0) & (train == 0)
    t, p = gt[scored], pred[scored]
    labels = list(range(1, 17))
    cm = confusion_matrix(t, p, labels=list(range(0, 17)))[1:, :]  # rows truth 1..16, cols 0..16
    f = dict(n=len(t), oa=accuracy_score(t, p),
             pa=recall_score(t, p, labels=labels, average=None, zero_division=0),
             ua=precision_score(t, p, labels=labels, average=None, zero_division=0),
             f1=f1_score(t, p, labels=labels, average=None, zero_division=0),
             kappa=cohen_kappa_score(t, p), cm=cm, excluded=int(((gt > 0) & (train > 0)).sum()))
    f["aa"] = f["pa"].mean()
    # Kappa variance, Congalton & Green (2009): written here in their
    # orientation (rows = map/prediction, columns = reference/truth).
    full = confusion_matrix(t, p, labels=list(range(0, 17)))   # rows truth 0..16
    m = full.T.astype(float)                                    # rows map
    n = m.sum(); rows = m.sum(1); cols = m.sum(0); diag = np.diag(m)
    t1 = diag.sum() / n
    t2 = (rows * cols).sum() / n**2
    t3 = (diag * (rows + cols)).sum() / n**2
    t4 = sum(m[i, j] * (rows[j] + cols[i])**2 for i in range(17) for j in range(17)) / n**3
    var = (t1*(1-t1)/(1-t2)**2 + 2*(1-t1)*(2*t1*t2-t3)/(1-t2)**3
           + (1-t1)**2*(t4-4*t2**2)/(1-t2)**4) / n
    f["var"] = var
    f["lo"] = f["kappa"] - 1.959963984540054 * np.sqrt(var)
    f["hi"] = f["kappa"] + 1.959963984540054 * np.sqrt(var)
    return f

pred1, pred2 = envi(f"{d}/pred1.dat"), envi(f"{d}/pred2.dat")
f = figures(pred1)
pct = lambda v: "%.2f" % (100.0 * v)

# ---- text report: every printed figure
txt = open(f"{d}/report.txt").read()
same("scored", re.search(r"Scored pixels:\s+(\d+)", txt).group(1), str(f["n"]))
same("excluded", re.search(r"training pixels excluded: (\d+)", txt).group(1), str(f["excluded"]))
same("OA", re.search(r"Overall accuracy \(OA\):\s+(\S+) %", txt).group(1), pct(f["oa"]))
same("AA", re.search(r"Average accuracy \(AA\):\s+(\S+) %", txt).group(1), pct(f["aa"]))
k = re.search(r"Cohen's kappa:\s+(\S+) \(95% CI (\S+) \.\. (\S+)\)", txt)
same("kappa", k.group(1), "%.4f" % f["kappa"])
same("kappa low", k.group(2), "%.4f" % f["lo"])
same("kappa high", k.group(3), "%.4f" % f["hi"])
rows = [l for l in txt.splitlines() if re.match(r"^\s*\d+  \S", l)]
table, matrix = rows[:16], rows[16:]
for k_, line in enumerate(table, start=1):
    tok = line.split()
    same(f"class {k_} counts", tok[-6:-3],
         [str(f["cm"][k_-1].sum()), str(f["cm"][:, k_].sum()), str(f["cm"][k_-1, k_])])
    same(f"class {k_} PA/UA/F1", tok[-3:], [pct(f["pa"][k_-1]), pct(f["ua"][k_-1]), pct(f["f1"][k_-1])])
for k_, line in enumerate(matrix, start=1):
    same(f"confusion row {k_}", line.split()[-17:], [str(v) for v in f["cm"][k_-1]])

# ---- CSV: 10 significant digits
csv = {}
for line in open(f"{d}/report.csv").read().splitlines()[1:]:
    fig, tr, pr, name, val = line.split(",")
    csv[(fig, tr, pr)] = val
g10 = lambda v: "%.10g" % v
same("csv oa", csv[("oa", "", "")], g10(f["oa"]))
same("csv aa", csv[("aa", "", "")], g10(f["aa"]))
same("csv kappa", csv[("kappa", "", "")], g10(f["kappa"]))
same("csv kappa variance", csv[("kappa_variance", "", "")], g10(f["var"]))
same("csv kappa low", csv[("kappa_ci95_low", "", "")], g10(f["lo"]))
same("csv kappa high", csv[("kappa_ci95_high", "", "")], g10(f["hi"]))
same("csv scored", csv[("scored", "", "")], str(f["n"]))
for k_ in range(1, 17):
    same(f"csv PA {k_}", csv[("producer_accuracy", str(k_), str(k_))], g10(f["pa"][k_-1]))
    same(f"csv UA {k_}", csv[("user_accuracy", str(k_), str(k_))], g10(f["ua"][k_-1]))
    same(f"csv F1 {k_}", csv[("f1", str(k_), str(k_))], g10(f["f1"][k_-1]))
    for p_ in range(0, 17):
        same(f"csv confusion {k_},{p_}", csv[("confusion", str(k_), str(p_))], str(f["cm"][k_-1, p_]))

# ---- JSON: valid, full precision
j = json.load(open(f"{d}/report.json"))
if abs(j["kappa"] - f["kappa"]) > 1e-12 or abs(j["kappa_variance"] - f["var"]) > 1e-15:
    bad.append(f"json kappa {j['kappa']} / {j['kappa_variance']} vs {f['kappa']} / {f['var']}")
if j["confusion"] != f["cm"].tolist():
    bad.append("json confusion matrix differs")

# ---- two runs: mean +- sample std
f2 = figures(pred2)
runs = open(f"{d}/runs.txt").read()
pm = lambda a, b: "%.2f +- %.2f" % (100 * np.mean([a, b]), 100 * np.std([a, b], ddof=1))
same("runs OA", re.search(r"Overall accuracy \(OA\):\s+(.+) %", runs).group(1), pm(f["oa"], f2["oa"]))
same("runs AA", re.search(r"Average accuracy \(AA\):\s+(.+) %", runs).group(1), pm(f["aa"], f2["aa"]))
same("runs kappa", re.search(r"Cohen's kappa:\s+(.+)", runs).group(1).strip(),
     "%.4f +- %.4f" % (np.mean([f["kappa"], f2["kappa"]]), np.std([f["kappa"], f2["kappa"]], ddof=1)))
for line in bad:
    print(line)
print(f"compared {len(table)} classes, {len(matrix)} matrix rows, OA {pct(f['oa'])} %, kappa {f['kappa']:.4f}")
sys.exit(1 if bad else 0)
EOF
pass
finish
