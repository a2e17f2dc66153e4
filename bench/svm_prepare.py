#!/usr/bin/python3
"""svm_prepare.py - the SVM grid benchmark's data (bench only).

From the real Samson cube (95 x 95 px x 156 bands) derive a ground truth
(argmax of the abundances A where the largest abundance is >= 0.7), draw a
stratified training set (FRACTION of each class, seeded), standardise every
band with the training pixels' mean and std, and write the same training data
twice: for hsi (features.mat: float32 95x95x156 `features`; train.mat: uint8
95x95 `train`) and for libsvm's svm-train (train.libsvm, pixels in the
row-major order hsi gathers them, values printed with 9 significant digits,
which round-trip float32).

usage: svm_prepare.py SAMSON.mat OUTDIR [FRACTION] [SEED]
"""
import sys

import numpy as np
import scipy.io as sio

src, out = sys.argv[1], sys.argv[2]
fraction = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1

m = sio.loadmat(src)
cube = m["SamSon"].astype(np.float64)        # rows x cols x bands
abund = m["A"]                                # rows x cols x 3
gt = (abund.argmax(axis=2) + 1).astype(np.uint8)
gt[abund.max(axis=2) < 0.7] = 0

rng = np.random.default_rng(seed)
train = np.zeros_like(gt)
for k in range(1, int(gt.max()) + 1):
    idx = np.flatnonzero(gt.ravel() == k)
    keep = rng.permutation(idx)[: max(1, int(np.ceil(fraction * idx.size)))]
    train.ravel()[keep] = k

mask = train.ravel() > 0
pixels = cube.reshape(-1, cube.shape[2])
mean = pixels[mask].mean(axis=0)
std = pixels[mask].std(axis=0)
std[std == 0] = 1
features = ((pixels - mean) / std).astype(np.float32).reshape(cube.shape)

sio.savemat(f"{out}/features.mat", {"features": features})
sio.savemat(f"{out}/train.mat", {"train": train})
sio.savemat(f"{out}/gt.mat", {"gt": gt})
flat = features.reshape(-1, features.shape[2])
with open(f"{out}/train.libsvm", "w") as fp:
    for i in np.flatnonzero(mask):
        fp.write(str(int(train.ravel()[i])) + " " +
                 " ".join(f"{j + 1}:{v:.9g}" for j, v in enumerate(flat[i])) + "\n")
counts = [int((train == k).sum()) for k in range(1, int(gt.max()) + 1)]
print(f"Samson: {int((gt > 0).sum())} labelled pixels, training {int(mask.sum())} "
      f"(per class {counts}), {features.shape[2]} standardised bands")
