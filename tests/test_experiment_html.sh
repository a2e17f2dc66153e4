#!/bin/sh
# test_experiment_html.sh - the experiment's report.html rendered by a real
# browser (headless Chromium): the page's own script, run on load, writes
# each image's natural width and the results table's row count into the
# DOM; the test reads them from the rendered DOM (not the file text): every
# image decoded (width > 0), the table has one row per pipeline. A
# screenshot is kept as a test artefact: tests/test_experiment_html.png.
. "$HSI_SRCDIR/tests/setup.sh"
CHROMIUM=""
for c in chromium chromium-browser google-chrome; do
    command -v "$c" >/dev/null 2>&1 && { CHROMIUM=$c; break; }
done
[ -n "$CHROMIUM" ] || { echo "SKIP: no chromium (apt-get install chromium; tools/run-tests.sh installs it)"; exit 77; }
cd "$HSI_SRCDIR" || exit 99
cat >"$TMP/two.ini" <<'EOF_INI'
[experiment]
seeds = 1, 2
[scene]
simulate = yes
rows = 64
cols = 64
[split random]
strategy = random
fraction = 0.2
patch = 5
[split blocks]
strategy = blocks
block = 16
fraction = 0.3
patch = 5
[pipeline svm-raw]
classifier = svm
log2c = 0,8,4
log2g = -3,-9,-3
folds = 3
[pipeline mlp]
classifier = cnn
spec = cnn3d/specs/spectral_mlp.cfg
epochs = 4
EOF_INI
R="$TMP/report"
expect_ok "experiment" -- "$HSI" experiment "$TMP/two.ini" -o "$R" -q
# Self-contained: nothing is fetched (no http(s) source, link or import).
grep -Eq '(src|href)="(https?:)?//|@import|url\(http' "$R/report.html" &&
    fail "report.html refers to the network: $(grep -Eo '(src|href)="(https?:)?//[^"]*' "$R/report.html" | head -2)"
pass

# --no-sandbox: Chromium refuses root otherwise (and CI runs as root).
FLAGS="--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=$TMP/profile"
timeout 120 "$CHROMIUM" $FLAGS --virtual-time-budget=5000 --dump-dom "file://$R/report.html" \
    >"$TMP/dom.html" 2>"$TMP/chromium.err"
rc=$?
[ $rc -eq 0 ] && [ -s "$TMP/dom.html" ] || { fail "chromium --dump-dom (exit $rc): $(tail -3 "$TMP/chromium.err")"; finish; }
check=$(sed -n 's/.*<pre id="render-check"[^>]*>\([^<]*\)<.*/\1/p' "$TMP/dom.html")
echo "rendered: $check"
case $check in
    images=*) pass ;;
    *) fail "the page's script did not run: no render-check in the rendered DOM" ;;
esac
n=$(echo "$check" | sed -n 's/.*images=\([0-9]*\).*/\1/p')
widths=$(echo "$check" | sed -n 's/.*widths=\([0-9,]*\).*/\1/p')
rows=$(echo "$check" | sed -n 's/.*results_rows=\([-0-9]*\).*/\1/p')
# oa, times, scene, truth, legend; 2 x 2 class + correct maps; 4 confusion
# matrices; 2 x 2 training curves.
[ "${n:-0}" -eq 21 ] || fail "$n images rendered, want 21"
echo "$widths" | tr , '\n' | grep -qx 0 && fail "an image did not load (natural width 0): $widths"
[ "$(echo "$widths" | tr , '\n' | grep -c '^[1-9]')" -eq "${n:-0}" ] || fail "widths: $widths"
[ "${rows:--1}" -eq 2 ] || fail "results table: $rows rows, want 2 (one per pipeline)"

SHOT="$HSI_BUILDDIR/tests/test_experiment_html.png"
rm -f "$SHOT"
timeout 120 "$CHROMIUM" $FLAGS --window-size=1280,2000 --virtual-time-budget=5000 \
    --screenshot="$SHOT" "file://$R/report.html" >/dev/null 2>"$TMP/chromium.err"
[ -s "$SHOT" ] || fail "no screenshot: $(tail -3 "$TMP/chromium.err")"
echo "screenshot: $SHOT"
finish
