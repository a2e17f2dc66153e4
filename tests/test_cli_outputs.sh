#!/bin/sh
# test_cli_outputs.sh - where outputs may go: never onto a device, FIFO,
# socket or directory; through a symlink to its regular target; never over
# one of the run's inputs; no temporary file left by a fatal signal; model
# files bounded; a failed write to standard output is an error.
#
# Runs as root in CI: the only devices written to are /dev/full and /dev/null,
# and the end checks that both are still character devices.
. "$HSI_SRCDIR/tests/setup.sh"

# expect_no_tmp DESCRIPTION DIR : no ~hsi-tmp-* file (or side file) in DIR
expect_no_tmp() {
    checks=$((checks + 1))
    left=$(ls -A "$2" | grep 'hsi-tmp' || true)
    [ -z "$left" ] || fail "$1: temporary files left in $2: $left"
}

# A small scene and its ground truth.
"$HSI" simulate --rows 40 --cols 36 --bands 200 --seed 3 -q -o "$TMP/s.tif" --gt "$TMP/gt.tif" \
  || { echo "cannot simulate a scene" >&2; exit 1; }
cp "$TMP/s.tif" "$TMP/s.orig"
cp "$TMP/gt.tif" "$TMP/gt.orig"

# --- outputs that are not regular files -------------------------------------
# First on a private node for the same device (character 1,7 is /dev/full),
# so that a regression replaces that node and not the machine's /dev/full;
# /dev/full and /dev/null themselves only once the private node survived.
if mknod "$TMP/full" c 1 7 2>/dev/null; then
  expect_error "-o a device node" "full: .*character device" -- "$HSI" convert "$TMP/s.tif" -o "$TMP/full"
  if [ -c "$TMP/full" ]; then
    expect_error "-o /dev/full" "/dev/full: .*character device" -- "$HSI" convert "$TMP/s.tif" -o /dev/full
    expect_error "-o /dev/null" "/dev/null: .*character device" -- \
      "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/gt.tif" -o /dev/null
    expect_no_tmp "-o /dev/full" /dev
  else
    fail "-o a device node: the node was replaced; /dev/full not tried"
  fi
else
  echo "cannot mknod (not root?): -o /dev/full not tried"
fi
[ -c /dev/full ] || fail "/dev/full is no longer a character device"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

mkfifo "$TMP/fifo"
expect_error "-o FIFO" "fifo: .*FIFO" -- timeout 60 "$HSI" convert "$TMP/s.tif" -o "$TMP/fifo"
[ -p "$TMP/fifo" ] || fail "-o FIFO: the FIFO was replaced"
expect_error "report -o FIFO" "fifo: .*FIFO" -- \
  timeout 60 "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/gt.tif" -o "$TMP/fifo"
[ -p "$TMP/fifo" ] || fail "report -o FIFO: the FIFO was replaced"

mkdir "$TMP/outdir"
expect_error "-o DIR (GeoTIFF)" "outdir: is a directory" -- "$HSI" convert "$TMP/s.tif" -o "$TMP/outdir"
expect_error "-o DIR (ENVI)" "outdir: is a directory" -- \
  "$HSI" convert "$TMP/s.tif" --format envi -o "$TMP/outdir"
expect_error "report -o DIR" "outdir: is a directory" -- \
  "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/gt.tif" -o "$TMP/outdir"
# Refused before any work: before the (missing) input is even opened.
expect_error "-o DIR before reading" "outdir: is a directory" -- "$HSI" convert "$TMP/nope.tif" -o "$TMP/outdir"
expect_error "--output=FIFO before reading" "fifo: is a FIFO" -- \
  "$HSI" cnn predict "$TMP/nope.tif" -m "$TMP/nope.ckpt" --output="$TMP/fifo"
[ -d "$TMP/outdir" ] && [ -z "$(ls -A "$TMP/outdir")" ] || fail "-o DIR: the directory changed"
expect_no_file "-o DIR" "$TMP/outdir.hdr" "$TMP/outdir.aux.xml"
expect_no_tmp "-o DIR" "$TMP"

# --- symlinks: written through to a regular target; the link stays -----------
mkdir "$TMP/real"
printf 'old\n' > "$TMP/real/target.tif"
ln -s real/target.tif "$TMP/link.tif"
expect_ok "-o symlink" -- "$HSI" convert "$TMP/s.tif" -o "$TMP/link.tif"
[ -L "$TMP/link.tif" ] || fail "-o symlink: the link was replaced"
cmp -s "$TMP/real/target.tif" "$TMP/s.tif" || fail "-o symlink: the target was not written"
expect_no_tmp "-o symlink" "$TMP"
expect_no_tmp "-o symlink (target dir)" "$TMP/real"
ln -s real/report.txt "$TMP/report-link.txt"
: > "$TMP/real/report.txt"
expect_ok "report -o symlink" -- \
  "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/gt.tif" -o "$TMP/report-link.txt"
[ -L "$TMP/report-link.txt" ] && grep -q 'OA' "$TMP/real/report.txt" \
  || fail "report -o symlink: link replaced or target not written"
ln -s real/nowhere.tif "$TMP/dangling.tif"
expect_error "-o dangling symlink" "dangling.tif: .*dangling" -- \
  "$HSI" convert "$TMP/s.tif" -o "$TMP/dangling.tif"
[ -L "$TMP/dangling.tif" ] && [ ! -e "$TMP/real/nowhere.tif" ] || fail "-o dangling symlink changed"
ln -s /dev/null "$TMP/devlink.tif"
expect_error "-o symlink to a device" "devlink.tif: .*(device|not a regular file)" -- \
  "$HSI" convert "$TMP/s.tif" -o "$TMP/devlink.tif"
[ -L "$TMP/devlink.tif" ] || fail "-o symlink to a device: the link was replaced"
ln -s outdir "$TMP/dirlink"
expect_error "-o symlink to a directory" "dirlink: .*directory" -- \
  "$HSI" convert "$TMP/s.tif" -o "$TMP/dirlink"
[ -L "$TMP/dirlink" ] && [ -z "$(ls -A "$TMP/outdir")" ] || fail "-o symlink to a directory changed"
expect_no_tmp "symlinks" "$TMP"

# --- an output that is also an input, by another name ------------------------
ln "$TMP/s.tif" "$TMP/hard.tif"
expect_error "convert -o hard link of IN" "hard.tif: is also an input .*s.tif.*refusing" -- \
  "$HSI" convert "$TMP/s.tif" -o "$TMP/hard.tif"
expect_error "convert -o ./IN" "s.tif: is also an input" -- \
  sh -c 'cd "$1" && "$2" convert s.tif -o ./s.tif' sh "$TMP" "$HSI"
expect_error "profile -o hard link of IN" "hard.tif: is also an input" -- \
  "$HSI" profile "$TMP/s.tif" --pca 2 --ap area=4 -q -o "$TMP/hard.tif"
expect_error "report -o GT" "gt.tif: is also an input" -- \
  sh -c 'cd "$1" && "$2" report --truth gt.tif --pred ./gt.tif -o ././gt.tif' sh "$TMP" "$HSI"
printf 'Alfalfa\n' > "$TMP/names.txt"
expect_error "report -o NAMES" "names.txt: is also an input" -- \
  "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/gt.tif" --names "$TMP/names.txt" -o "$TMP/names.txt"
grep -qx 'Alfalfa' "$TMP/names.txt" || fail "report -o NAMES: the class names were overwritten"
cmp -s "$TMP/s.tif" "$TMP/s.orig" || fail "output == input: the scene was overwritten"
cmp -s "$TMP/gt.tif" "$TMP/gt.orig" || fail "output == input: the ground truth was overwritten"
expect_no_tmp "output == input" "$TMP"
# Later checks need them intact even when the ones above failed.
cp "$TMP/s.orig" "$TMP/s.tif"; cp "$TMP/gt.orig" "$TMP/gt.tif"

# ENVI: the output's header would be the input's header.
"$HSI" convert "$TMP/s.tif" --format envi -o "$TMP/e" >/dev/null 2>&1
if [ -f "$TMP/e.hdr" ]; then
  cp "$TMP/e.hdr" "$TMP/e.hdr.orig"
  expect_error "ENVI -o sharing IN's header" "e.hdr: is also an input" -- \
    "$HSI" convert "$TMP/e" --format envi --bands 1-3 -o "$TMP/e.img"
  cmp -s "$TMP/e.hdr" "$TMP/e.hdr.orig" || fail "ENVI side file: the input's header was overwritten"
  expect_no_file "ENVI side file" "$TMP/e.img"
else
  fail "cannot write an ENVI cube without extension"
fi

SPEC="$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg"
cp "$SPEC" "$TMP/spec.cfg"
expect_error "cnn train -o SPEC" "spec.cfg: is also an input" -- \
  "$HSI" cnn train "$TMP/s.tif" --spec "$TMP/spec.cfg" --train "$TMP/gt.tif" --epochs 0 --allow-missing-classes -q -o "$TMP/spec.cfg"
cmp -s "$TMP/spec.cfg" "$SPEC" || fail "cnn train -o SPEC: the spec was overwritten"
if "$HSI" cnn train "$TMP/s.tif" --spec "$SPEC" --train "$TMP/gt.tif" --epochs 0 --allow-missing-classes -q \
     -o "$TMP/m.ckpt" >"$TMP/out" 2>&1; then
  cp "$TMP/m.ckpt" "$TMP/m.orig"
  expect_error "cnn predict -o hard link of IN" "hard.tif: is also an input" -- \
    "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/m.ckpt" -q -o "$TMP/hard.tif"
  expect_error "cnn predict -o MODEL" "m.ckpt: is also an input" -- \
    "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/m.ckpt" -q -o "$TMP/./m.ckpt"
  cmp -s "$TMP/s.tif" "$TMP/s.orig" || fail "cnn predict: the scene was overwritten"
  cmp -s "$TMP/m.ckpt" "$TMP/m.orig" || fail "cnn predict: the model was overwritten"
  expect_ok "cnn predict to a new file" -- "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/m.ckpt" -q -o "$TMP/pred.tif"
else
  fail "cnn train --epochs 0: $(cat "$TMP/out")"
fi
expect_no_tmp "cnn" "$TMP"

# --- model files: regular, bounded -------------------------------------------
# Bounded memory, so that a regression fails instead of filling the machine
# (not under AddressSanitizer, whose shadow memory needs more address space;
# the timeout still bounds it).
VLIMIT=4000000
sh -c "ulimit -v $VLIMIT; exec \"\$@\" --version" sh "$HSI" >/dev/null 2>&1 || VLIMIT=unlimited
expect_error "-m /dev/zero" "/dev/zero: .*not a regular file" -- \
  sh -c 'ulimit -v $0; exec timeout 30 "$@"' $VLIMIT "$HSI" cnn predict "$TMP/s.tif" -m /dev/zero -o "$TMP/p0.tif"
expect_error "svm -m /dev/zero" "/dev/zero: .*not a regular file" -- \
  sh -c 'ulimit -v $0; exec timeout 30 "$@"' $VLIMIT "$HSI" svm predict "$TMP/s.tif" -m /dev/zero -o "$TMP/p1.tif"
expect_error "--spec /dev/zero" "/dev/zero: .*not a regular file" -- \
  sh -c 'ulimit -v $0; exec timeout 30 "$@"' $VLIMIT "$HSI" cnn train "$TMP/s.tif" --spec /dev/zero \
  --train "$TMP/gt.tif" -o "$TMP/p2.ckpt"
expect_error "-m FIFO" "fifo: .*not a regular file" -- \
  timeout 30 "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/fifo" -o "$TMP/p3.tif"
if truncate -s 100G "$TMP/huge.ckpt" 2>/dev/null; then
  expect_error "-m 100 GiB file" "huge.ckpt: larger than [0-9]+ GiB" -- \
    sh -c 'ulimit -v $0; exec timeout 30 "$@"' $VLIMIT "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/huge.ckpt" -o "$TMP/p4.tif"
  rm -f "$TMP/huge.ckpt"
fi
expect_no_file "model files" "$TMP/p0.tif" "$TMP/p1.tif" "$TMP/p2.ckpt" "$TMP/p3.tif" "$TMP/p4.tif"

# --- standard output ----------------------------------------------------------
expect_error "info --json > /dev/full" "^hsi: write error on standard output: No space left on device$" -- \
  sh -c 'exec "$@" > /dev/full' sh "$HSI" info --json - "$TMP/s.tif"
expect_error "split > /dev/full" "^hsi: write error on standard output: No space left on device$" -- \
  sh -c 'exec "$@" > /dev/full' sh "$HSI" split "$TMP/gt.tif" --fraction 0.5 -o "$TMP/sp"
expect_error "--help > /dev/full" "^hsi: write error on standard output" -- \
  sh -c 'exec "$@" > /dev/full' sh "$HSI" --help
expect_ok "info > /dev/null" -- sh -c 'exec "$@" > /dev/null' sh "$HSI" info --json - "$TMP/s.tif"

# --- a fatal signal during a large write leaves no temporary file ------------
# A sparse ENVI cube of zeros (nothing on disk to read) converted to GeoTIFF:
# 1024 x 1024 x 100 float32 = 400 MiB to write, long enough to interrupt.
mkdir "$TMP/big"
printf 'ENVI\nsamples = 1024\nlines = 1024\nbands = 100\nheader offset = 0\ndata type = 4\ninterleave = bip\nbyte order = 0\n' \
  > "$TMP/big/zero.hdr"
truncate -s $((1024 * 1024 * 100 * 4)) "$TMP/big/zero.dat"
# A background job of this shell starts with SIGINT ignored, a run under
# nohup with SIGHUP ignored (and hsi leaves an ignored signal ignored): env
# --default-signal (coreutils >= 8.31) restores the one sent.
for sig in TERM HUP INT; do
  env --default-signal=$sig "$HSI" convert "$TMP/big/zero.dat" -o "$TMP/big/out.tif" 2>"$TMP/big/err" &
  pid=$!
  seen=0
  i=0
  while [ $i -lt 2000 ] && kill -0 $pid 2>/dev/null; do
    if ls "$TMP/big" | grep -q 'hsi-tmp'; then seen=1; break; fi
    i=$((i + 1))
    sleep 0.01
  done
  checks=$((checks + 1))
  if [ $seen = 1 ]; then
    kill -$sig $pid
    wait $pid
    rc=$?
    [ $rc -ge 128 ] || fail "SIG$sig: exit $rc, wanted death by the signal"
    expect_no_tmp "SIG$sig during a write" "$TMP/big"
    expect_no_file "SIG$sig during a write" "$TMP/big/out.tif"
  else
    wait $pid
    fail "SIG$sig: never saw the temporary file (write too fast to interrupt?)"
  fi
  rm -f "$TMP/big/out.tif" "$TMP/big/"*hsi-tmp*
done
rm -rf "$TMP/big"

[ -c /dev/full ] || fail "/dev/full is no longer a character device"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
finish
