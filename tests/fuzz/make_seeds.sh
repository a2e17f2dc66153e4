#!/bin/sh
# make_seeds.sh BUILD - regenerate the committed seed corpora in
# tests/fuzz/corpus/ with the hsi of BUILD (any configuration). Every seed is
# a small valid file made by hsi itself (or, for .mat, by libmatio), so the
# fuzzers start from the formats hsi writes and reads. Needs cc and libmatio.
set -eu
build=$(cd "${1:?usage: make_seeds.sh BUILD}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
hsi="$build/hsi"
out="$src/tests/fuzz/corpus"
shared="${HSI_SHARED_DATA:-$src/../shared/data}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" OMP_NUM_THREADS=1
cd "$tmp"
for d in spec checkpoint svm preprocess bands envi mat; do rm -rf "$out/$d"; mkdir -p "$out/$d"; done

# ---- specs: the shipped ones and two tiny ones covering every layer kind
cp "$src"/cnn3d/specs/*.cfg "$out/spec/"
cat >tiny.cfg <<'EOF'
# tiny seed spec for fuzzing
[net]
input = 3, 3, auto
classes = auto
batch = 8
epochs = 1
optimizer = adam
[conv3d]
filters = 2
kernel = 3, 3, 5
stride = 1, 1, 2
activation = relu
[maxpool3d]
size = 1, 1, 2
[batchnorm]
[flatten]
[dropout]
rate = 0.25
[dense]
units = classes
activation = softmax
EOF
sed 's/optimizer = adam/optimizer = sgd/; s/3, 3, auto/1, 1, auto/; s/kernel = 3, 3, 5/kernel = 1, 1, 3/' \
    tiny.cfg >tiny_sgd.cfg
cat >pad.cfg <<'EOF'
[net]
input = 5, 5, 16
classes = 3
loss = mse
init = he_uniform
learning_rate = 0.001
momentum = 0.9
nesterov = yes
weight_decay = 0.0001
validation_split = 0.1
patience = 3
[zeropad3d]
pad = 1, 1, 0
[conv3d]
filters = 4
kernel = 3
padding = same
activation = tanh
[avgpool3d]
size = 2, 2, 2
stride = 1, 1, 2
[flatten]
[dense]
units = 8
activation = sigmoid
[dense]
units = classes
activation = linear
EOF
cat >rnn.cfg <<'EOF'
# recurrent layers stacked on a convolution: [lstm] sequence -> [gru] sequence
[net]
input = 3, 3, auto
classes = auto
batch = 8
optimizer = adam
[conv3d]
filters = 2
kernel = 3, 3, 2
activation = relu
[lstm]
units = 4
return_sequences = 1
[gru]
units = 3
return_sequences = 1
[flatten]
[dense]
units = classes
activation = softmax
EOF
cp tiny.cfg tiny_sgd.cfg pad.cfg rnn.cfg "$out/spec/"

# ---- a small scene to train on
"$hsi" simulate -q --rows 48 --cols 48 --difficulty 0.2 -o scene.tif --gt gt.tif

# ---- CNN checkpoints: adam + standardise, adam + PCA (untrained), sgd + none, recurrent
"$hsi" cnn train scene.tif --spec tiny.cfg --train gt.tif --bands 1-10 --epochs 1 -q -o "$out/checkpoint/std.ckpt"
"$hsi" cnn train scene.tif --spec tiny.cfg --train gt.tif --bands 1-12 --preprocess pca:8 --epochs 0 \
    --border zero -q -o "$out/checkpoint/pca.ckpt"
"$hsi" cnn train scene.tif --spec tiny_sgd.cfg --train gt.tif --bands 1-8 --preprocess none --epochs 1 \
    -q -o "$out/checkpoint/none.ckpt"
"$hsi" cnn train scene.tif --spec rnn.cfg --train gt.tif --bands 1-6 --preprocess none --epochs 1 --allow-missing-classes \
    -q -o "$out/checkpoint/rnn.ckpt"
# version 2's settings in use: a plateau schedule, warm-up, augmentation, a frozen layer
"$hsi" cnn train scene.tif --spec tiny.cfg --train gt.tif --bands 1-10 --epochs 2 --schedule plateau:1:0.5 \
    --warmup 1 --augment flip,rotate,gain:0.05,mix:0.3 --freeze 1 --allow-missing-classes -q \
    -o "$out/checkpoint/sched.ckpt"

# ---- SVM bundles: RBF + standardise, RBF + PCA + probabilities, poly + none
a="--allow-missing-classes -q"
"$hsi" svm train scene.tif --gt gt.tif --fraction 0.05 --bands 1-6 $a -o "$out/svm/std.svm" 2>/dev/null
"$hsi" svm train scene.tif --gt gt.tif --fraction 0.05 --bands 1-8 --preprocess pca:3 --probability $a \
    -o "$out/svm/pca_prob.svm" 2>/dev/null
"$hsi" svm train scene.tif --gt gt.tif --fraction 0.03 --bands 1-4 --preprocess none --kernel poly --degree 2 \
    $a -o "$out/svm/poly.svm" 2>/dev/null

# ---- preprocessing records: cut out of the bundles and checkpoints above
python3 - "$out" <<'EOF'
import struct, sys, os
out = sys.argv[1]
n = 0
for sub in ("svm", "checkpoint"):
    for name in sorted(os.listdir(os.path.join(out, sub))):
        b = open(os.path.join(out, sub, name), "rb").read()
        i = b.find(b"HSIPRE1\0")
        if i < 0:
            continue
        kind, ind, outd = struct.unpack_from("<IQQ", b, i + 8)
        size = 28 + ind * 4 + (ind * outd * 4 + outd * 8 if kind == 3 else ind * 4)
        open(os.path.join(out, "preprocess", name + ".pre"), "wb").write(b[i:i + size])
        n += 1
assert n >= 3, n
EOF

# ---- band tables (.spc) and band lists
[ -f "$shared/indian_pines/92AV3C.spc" ] && cp "$shared/indian_pines/92AV3C.spc" "$out/bands/"
printf 'centre fwhm\nnm nm\n400.02 9.78\n409.82 9.82 0.1\n  .5 0\n' >"$out/bands/small.spc"
printf '1-103,109-149,164-219' >"$out/bands/list_corrected.txt"
printf ' 7 , 3-5,220' >"$out/bands/list_spaces.txt"

# ---- ENVI headers (fuzz_envi pairs each with a fixed 4 KiB data file)
"$hsi" simulate -q --rows 4 --cols 4 --bands 200 -o s4.tif --gt s4_gt.tif
"$hsi" convert s4.tif --bands 1-8 -o cube.img >/dev/null
cp cube.hdr "$out/envi/cube_bip_float.hdr"
cat >"$out/envi/labels.hdr" <<'EOF'
ENVI
description = {labels}
samples = 8
lines = 8
bands = 1
header offset = 0
file type = ENVI Classification
data type = 1
interleave = bsq
byte order = 0
classes = 5
class lookup = {
0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0}
class names = {
Unclassified, Corn, Grass, Woods, Water}
map info = {UTM, 1, 1, 504000, 4481000, 20, 20, 16, North,WGS-84}
EOF
cat >"$out/envi/bil_uint16.hdr" <<'EOF'
ENVI
samples = 6
lines = 5
bands = 3
header offset = 16
file type = ENVI Standard
data type = 12
interleave = bil
byte order = 1
data ignore value = 0
wavelength units = Micrometers
wavelength = {0.45, 0.55, 0.65}
fwhm = {0.01, 0.01, 0.01}
band names = {blue, green, red}
EOF

# ---- .mat: ground truths from the shared data, and cubes written by matio
for f in indian_pines/Indian_pines_gt.mat salinas_a/SalinasA_gt.mat; do
    [ -f "$shared/$f" ] && cp "$shared/$f" "$out/mat/"
done
cat >mk.c <<'EOF'
#include <matio.h>
#include <stdint.h>
static void put(mat_t *m, const char *name, enum matio_classes c, enum matio_types t, int rank,
                size_t *dims, void *data)
{
    matvar_t *v = Mat_VarCreate(name, c, t, rank, dims, data, 0);
    Mat_VarWrite(m, v, MAT_COMPRESSION_NONE);
    Mat_VarFree(v);
}
int main(int argc, char **argv)
{
    float cube[3 * 4 * 5];
    uint16_t wide[5 * 12];
    double one = 3, four = 4;
    for (int i = 0; i < 60; i++) cube[i] = (float)(i % 13), wide[i] = (uint16_t)(i * 7);
    size_t d3[3] = {3, 4, 5}, d2[2] = {5, 12}, d1[2] = {1, 1};
    for (int f = 0; f < 2; f++) {
        mat_t *m = Mat_CreateVer(argv[1 + f], NULL, f ? MAT_FT_MAT73 : MAT_FT_MAT5);
        if (!m) return 1;
        put(m, "cube", MAT_C_SINGLE, MAT_T_SINGLE, 3, d3, cube);
        Mat_Close(m);
    }
    mat_t *m = Mat_CreateVer(argv[3], NULL, MAT_FT_MAT5); /* Jasper Ridge style */
    if (!m) return 1;
    put(m, "Y", MAT_C_UINT16, MAT_T_UINT16, 2, d2, wide);
    put(m, "lines", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &one);
    put(m, "cols", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &four);
    Mat_Close(m);
    (void)argc;
    return 0;
}
EOF
cc -o mk mk.c $(pkg-config --cflags --libs matio)
./mk "$out/mat/cube_v5.mat" "$out/mat/cube_v73.mat" "$out/mat/folded_v5.mat"
chmod -R u+w,go+r "$out"
echo "seeds in $out: $(find "$out" -type f | wc -l) files, $(du -sk "$out" | cut -f1) KiB"
