#!/bin/sh
# stream_8g.sh - issue 13's scene larger than memory, end to end under one
# --memory budget: peak resident memory (GNU time -v "Maximum resident set
# size"), wall time and throughput (Mpixel/s of the scene) of
#   hsi simulate    the scene itself (4096 x 4096 x 200 float32: 13.4 GB
#                   before DEFLATE), made and written a row block at a time
#   hsi info (per-band value ranges), hsi map rgb (GeoTIFF), hsi profile
#                   (--pca 1, area AP, at exact float levels and quantised
#                   to 8 bits)
#   hsi svm train   (a sparse training set: --fraction $FRACTION) and
#   hsi svm predict on the whole scene
#   hsi cnn train / predict with a light spectral net (cnn3d/specs/
#                   spectral_mlp.cfg: 1 x 1 patches) on the whole scene
#   hsi cnn train   with the Lange 2018 3-D CNN (9 x 9 patches: only the
#                   training patches are kept), and its predict throughput on
#                   a window of $WINDOW_ROWS rows (the whole scene would take
#                   hours on a few cores: about 500 patches/s on 2 cores)
#   hsi map class   of the SVM's class raster
# each with --memory $MEMORY. Targets: every peak RSS within the budget plus
# the model, whatever the scene's size.
#
#   bench/stream_8g.sh DIR [BUILD_DIR]        (BUILD_DIR default: build)
# DIR holds the generated scene and outputs (about 15 GB of disk with the
# defaults; never commit them); it is removed at the end unless KEEP=1.
# Variables: ROWS=4096 COLS=4096 BANDS=200 (200 or 220) MEMORY=2G
#   FRACTION=0.00002 EPOCHS=2 WINDOW_ROWS=16 (at least 9) HSI=path/to/hsi (default
#   BUILD_DIR/hsi) SKIP="svm_predict ..." (labels to skip), REUSE=1 (keep
#   the runs DIR already holds from an interrupted bench, scene included).
# Run the whole script under 'nice' on a shared machine: peak RSS does not
# depend on load, wall times and throughput do. The results table
# (Markdown) is printed and written to DIR/stream_8g-results.md; the load
# average before and after is in it, so loaded-machine times are marked.
set -eu
[ $# -ge 1 ] || { echo "usage: bench/stream_8g.sh DIR [BUILD_DIR]" >&2; exit 2; }
DIR=$1
BUILD=${2:-build}
HSI=${HSI:-$BUILD/hsi}
ROWS=${ROWS:-4096} COLS=${COLS:-4096} BANDS=${BANDS:-200} MEMORY=${MEMORY:-2G}
FRACTION=${FRACTION:-0.00002} EPOCHS=${EPOCHS:-2} WINDOW_ROWS=${WINDOW_ROWS:-16}
KEEP=${KEEP:-0} SKIP=${SKIP:-} REUSE=${REUSE:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "stream_8g.sh: GNU time (/usr/bin/time, Debian package 'time') is needed" >&2; exit 1; }
command -v gdal_translate >/dev/null || { echo "stream_8g.sh: gdal_translate (gdal-bin) is needed" >&2; exit 1; }
mkdir -p "$DIR"
RES=$DIR/stream_8g-results.md
mpix=$(awk "BEGIN { printf \"%.3f\", $ROWS * $COLS / 1e6 }")
gb=$(awk "BEGIN { printf \"%.1f\", $ROWS * $COLS * $BANDS * 4 / 1e9 }")
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# run LABEL MPIXEL NOTE command...: one timed run, a table row (B: the
# --memory column, "-" for a command without a budget).
B=$MEMORY
run() {
  label=$1 px=$2 note=$3; shift 3
  case " $SKIP " in *" $label "*) echo "| $label | skipped | | | | |" | tee -a "$RES.tmp"; return 0 ;; esac
  log=$DIR/$label.time
  if [ "$REUSE" = 1 ] && grep -q "Exit status: 0" "$log" 2>/dev/null; then
    echo "stream_8g: $label: the run already in $DIR" >&2
  elif echo "stream_8g: $label ..." >&2 &&
     ! "$TIME" -v -o "$log" "$@" >"$DIR/$label.out" 2>"$DIR/$label.err"; then
    # a refusal within the budget is a result too: its peak RSS is shown
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    echo "| $label | $B | $((${rss:-0} / 1024)) | | | failed: $(tail -1 "$DIR/$label.err" | cut -c1-400) |" |
      tee -a "$RES.tmp"
    return 0
  fi
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  # hsi profile's summary (blocks, boundary-tree nodes, passes) joins the note
  sum=$(sed -n 's/.* in [0-9.]* s; \([0-9]* blocks\? of up to .*\)/\1/p' "$DIR/$label.out" | tail -1)
  [ -z "$sum" ] || note="$note; $sum"
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
         awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
  awk -v l="$label" -v b="$B" -v r="$rss" -v w="$wall" -v m="$px" -v n="$note" \
    'BEGIN { printf "| %s | %s | %.0f | %.1f | %s | %s |\n", l, b, r / 1024, w,
             (m > 0 && w > 0 ? sprintf("%.4g", m / w) : "-"), n }' | tee -a "$RES.tmp"
}

: >"$RES.tmp"
"$TIME" -v -o "$DIR/baseline.time" "$HSI" info --help >/dev/null
base=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$DIR/baseline.time")
echo "| hsi info --help (libraries alone) | - | $((base / 1024)) | - | - | |" | tee -a "$RES.tmp"

run simulate "$mpix" "$gb GB of float32" \
  "$HSI" simulate --rows "$ROWS" --cols "$COLS" --bands-count "$BANDS" --seed 1 --memory "$MEMORY" \
  -o "$DIR/scene.tif" -q
[ -f "$DIR/scene.tif" ] || { echo "stream_8g.sh: no scene" >&2; exit 1; }
disk=$(du -h "$DIR/scene.tif" | cut -f1)
[ -f "$DIR/split_train.tif" ] ||
  "$HSI" split --truth "$DIR/scene_gt.tif" --fraction "$FRACTION" --seed 1 -o "$DIR/split" -q >/dev/null 2>&1 ||
  { echo "stream_8g.sh: hsi split failed" >&2; exit 1; }

# The training runs first (a few passes over the scene), then the whole-
# scene runs, the slowest (SVM prediction) last but one.
run svm_train 0 "--fraction $FRACTION, RBF" \
  "$HSI" svm train "$DIR/scene.tif" --truth "$DIR/scene_gt.tif" --fraction "$FRACTION" \
  --allow-missing-classes -c 100 -g 0.001 --memory "$MEMORY" -o "$DIR/m.svm" -q
run cnn_train_mlp 0 "spectral_mlp, $EPOCHS epochs" \
  "$HSI" cnn train "$DIR/scene.tif" --spec "$SRC/cnn3d/specs/spectral_mlp.cfg" \
  --train "$DIR/split_train.tif" --epochs "$EPOCHS" --allow-missing-classes --memory "$MEMORY" \
  -o "$DIR/mlp.ckpt" -q
run cnn_train_lange 0 "lange2018, 1 epoch, patches kept" \
  "$HSI" cnn train "$DIR/scene.tif" --spec "$SRC/cnn3d/specs/lange2018.cfg" \
  --train "$DIR/split_train.tif" --epochs 1 --allow-missing-classes --memory "$MEMORY" \
  -o "$DIR/lange.ckpt" -q
# The Lange net on a window of rows (the scene's first WINDOW_ROWS rows).
[ -f "$DIR/window.tif" ] || gdal_translate -q -srcwin 0 0 "$COLS" "$WINDOW_ROWS" "$DIR/scene.tif" "$DIR/window.tif"
wpx=$(awk "BEGIN { printf \"%.4f\", $WINDOW_ROWS * $COLS / 1e6 }")
run cnn_predict_lange_window "$wpx" "$WINDOW_ROWS x $COLS window" \
  "$HSI" cnn predict "$DIR/window.tif" -m "$DIR/lange.ckpt" --memory "$MEMORY" -o "$DIR/lange_window.tif" -q
run cnn_predict_mlp "$mpix" "whole scene, light spectral net" \
  "$HSI" cnn predict "$DIR/scene.tif" -m "$DIR/mlp.ckpt" --memory "$MEMORY" -o "$DIR/mlp.tif" -q
run map_rgb "$mpix" "GeoTIFF" "$HSI" map rgb "$DIR/scene.tif" --memory "$MEMORY" -o "$DIR/rgb.tif" -q
run info "$mpix" "value ranges" "$HSI" info --memory "$MEMORY" "$DIR/scene.tif"
run svm_predict "$mpix" "whole scene" \
  "$HSI" svm predict "$DIR/scene.tif" -m "$DIR/m.svm" --memory "$MEMORY" -o "$DIR/svm.tif" -q
B=-
run map_class "$mpix" "of the SVM map (no budget: holds the class raster)" \
  "$HSI" map class "$DIR/svm.tif" -o "$DIR/svm_class.tif" -q
B=$MEMORY
if "$HSI" profile --help 2>/dev/null | grep -q -- "--memory"; then
  # at exact float levels a band's boundary trees approach a node per
  # pixel: refused when they do not fit beside the blocks (the message names
  # the budget that would do); quantised to 8 bits they are small
  run profile_float "$mpix" "--pca 1, area AP, exact float levels" \
    "$HSI" profile "$DIR/scene.tif" --pca 1 --ap area=100,1000 --memory "$MEMORY" -o "$DIR/profile.tif" -q
  run profile "$mpix" "--pca 1 --quantise 8, area AP" \
    "$HSI" profile "$DIR/scene.tif" --pca 1 --quantise 8 --ap area=100,1000 --memory "$MEMORY" -o "$DIR/profile8.tif" -q
else
  echo "| profile | not run: this build's hsi profile has no --memory (it reads the scene whole) | | | | |" |
    tee -a "$RES.tmp"
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "## A ${gb} GB scene under --memory $MEMORY (bench/stream_8g.sh, $(date -u +%Y-%m-%d))"
  echo
  echo "Scene: $ROWS x $COLS x $BANDS float32 ($gb GB before compression; $disk on disk,"
  echo "a tiled DEFLATE BigTIFF when over 1 GiB), $mpix Mpixel, hsi simulate seed 1."
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),"
  echo "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); load average $load0 before, $load1 after"
  echo "(wall times and throughput are only comparable on an otherwise idle machine)."
  echo "Peak RSS is the whole process (GNU time -v), the libraries' share included;"
  echo "the budget does not count a CNN's net (weights and activation buffers: the model)."
  echo
  echo "| command | --memory | peak RSS (MiB) | wall (s) | Mpixel/s | notes |"
  echo "|---|---|---|---|---|---|"
  cat "$RES.tmp"
} >"$RES"
rm -f "$RES.tmp"
cat "$RES"
[ "$KEEP" = 1 ] || rm -f "$DIR"/scene.tif "$DIR"/*.tif "$DIR"/*.tif.aux.xml "$DIR"/*.ckpt "$DIR"/m.svm
