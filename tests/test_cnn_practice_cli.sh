#!/bin/sh
# test_cnn_practice_cli.sh - `hsi cnn` schedules, augmentation and transfer
# learning from the command line: the epoch log shows the scheduled rate,
# --init copies weights and replaces the head, --freeze marks and keeps
# layers, --resume continues the run's settings, and bad values are usage
# errors naming the option.
. "$HSI_SRCDIR/tests/setup.sh"
MLP="$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg"

# expect_refusal DESCRIPTION PATTERN -- command... : exit 1, and the last
# stderr line (after the warning about classes the small scene lacks)
# matches PATTERN.
expect_refusal() {
    what=$1 pattern=$2; shift 2; [ "$1" = "--" ] && shift
    checks=$((checks + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 1 ] || { fail "$what: exit $rc, wanted 1: $(cat "$TMP/err")"; return; }
    tail -n 1 "$TMP/err" | grep -Eq -- "$pattern" || fail "$what: stderr '$(cat "$TMP/err")' lacks /$pattern/"
}

expect_ok "simulate" -- "$HSI" simulate --rows 30 --cols 30 -o "$TMP/s.tif" --gt "$TMP/gt.tif" -q
expect_ok "split" -- "$HSI" split --truth "$TMP/gt.tif" -o "$TMP/sp" --fraction 0.5 --seed 1 -q

# step:2:0.5 from 0.01 with a 1-epoch warm-up: the log shows each epoch's rate.
expect_ok "train with a schedule" -- "$HSI" cnn train "$TMP/s.tif" --spec "$MLP" --train "$TMP/sp_train.tif" \
    --allow-missing-classes --bands 1-20 --epochs 4 --lr 0.01 --schedule step:2:0.5 --warmup 1 \
    --augment gain:0.02,offset:0.02 -o "$TMP/a.ckpt"
grep -q 'Learning rate 0.01, schedule step:2:0.5, warm-up 1 epochs; augmentation gain:0.02,offset:0.02' "$TMP/out" ||
    fail "settings line: $(cat "$TMP/out")"
rates=$(sed -n 's/^Epoch .* - lr: \(.*\)$/\1/p' "$TMP/out" | tr '\n' ' ')
[ "$rates" = "0.01 0.01 0.005 0.005 " ] || fail "epoch rates '$rates', wanted 0.01 0.01 0.005 0.005"
# Resume to 6 epochs: the schedule goes on (epochs 5-6 at 0.0025) without being given again.
expect_ok "resume" -- "$HSI" cnn train "$TMP/s.tif" --resume "$TMP/a.ckpt" --train "$TMP/sp_train.tif" \
    --allow-missing-classes --epochs 6 -o "$TMP/a6.ckpt"
rates=$(sed -n 's/^Epoch .* - lr: \(.*\)$/\1/p' "$TMP/out" | tr '\n' ' ')
[ "$rates" = "0.0025 0.0025 " ] || fail "resumed rates '$rates', wanted 0.0025 0.0025"

# Transfer: another class count replaces the head; the other layers are copied.
expect_ok "summary --freeze" -- "$HSI" cnn summary "$MLP" --bands-count 20 --classes 4 --freeze dense_1,3
grep -q 'dense_1 (relu) \*' "$TMP/out" || fail "summary: dense_1 not marked: $(cat "$TMP/out")"
grep -q 'Trainable params: 516$' "$TMP/out" || fail "summary: trainable params: $(cat "$TMP/out")"
expect_ok "init" -- "$HSI" cnn train "$TMP/s.tif" --init "$TMP/a.ckpt" --train "$TMP/sp_test.tif" \
    --allow-missing-classes --bands 1-20 --epochs 1 --freeze 1-3 -o "$TMP/b.ckpt" --test "$TMP/sp_test.tif"
grep -q 'dense_1      copied (2688 parameters)' "$TMP/out" || fail "init: $(cat "$TMP/out")"
grep -q 'dense_2      copied' "$TMP/out" || fail "init: dense_2 not copied: $(cat "$TMP/out")"
grep -q 'Frozen: flatten_1 dense_1 dense_2 (' "$TMP/out" || fail "init: frozen line: $(cat "$TMP/out")"

# Refusals.
expect_refusal "init with another band count" "a.ckpt: layer dense_1 has .*the band count differs \\(30, .*a.ckpt: 20\\); give both scenes the same bands \\(--bands, --preprocess pca:K\\)$" -- \
    "$HSI" cnn train "$TMP/s.tif" --init "$TMP/a.ckpt" --train "$TMP/sp_train.tif" --allow-missing-classes \
    --bands 1-30 --epochs 1 -q -o "$TMP/c.ckpt"
expect_no_file "no model after a refusal" "$TMP/c.ckpt"
expect_error "init and resume" "--init starts a new training run" -- \
    "$HSI" cnn train "$TMP/s.tif" --init "$TMP/a.ckpt" --resume "$TMP/a.ckpt" --train "$TMP/sp_train.tif" -o "$TMP/c.ckpt"
expect_error "bad schedule" "--schedule 'cosine:x': expected cosine" -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$MLP" --train "$TMP/sp_train.tif" --schedule cosine:x -o "$TMP/c.ckpt"
expect_error "bad augment" "--augment 'flip,spin'" -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$MLP" --train "$TMP/sp_train.tif" --augment flip,spin -o "$TMP/c.ckpt"
expect_refusal "bad freeze" "--freeze: no layer named 'conv3d_1'" -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$MLP" --train "$TMP/sp_train.tif" --allow-missing-classes \
    --freeze conv3d_1 -q -o "$TMP/c.ckpt"
expect_error "bad warmup" "--warmup" -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$MLP" --train "$TMP/sp_train.tif" --warmup -2 -o "$TMP/c.ckpt"
finish
