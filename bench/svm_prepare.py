#!/usr/bin/python3
"""svm_prepare.py - the SVM grid benchmark's data (bench only).

Two sources:
  samson     the real Samson cube (95 x 95 px x 156 bands); its ground truth is
             the argmax of the abundances A where the largest abundance >= 0.7
  CUBE GT    an ENVI cube (float32, BIP, e.g. from `hsi simulate --format ENVI`)
             and its ENVI ground truth (uint8/uint16)
Then: draw a stratified training set (FRACTION of each class, at least one
pixel, seeded), standardise every band with the training pixels' mean and
std, and write the same training data twice: for hsi (OUT/features.mat:
float32 rows x cols x bands `features`; OUT/train.mat: uint8/uint16 `train`)
and for libsvm's svm-train (OUT/train.libsvm, pixels in the row-major order
hsi gathers them, each float32 value written as the exact double libsvm reads).

usage: svm_prepare.py OUT FRACTION SEED SAMSON.mat
       svm_prepare.py OUT FRACTION SEED CUBE.hdr GT.hdr
"""
import sys

import numpy as np
import scipy.io as sio


def envi(hdr_path):
    """The raster of an ENVI header (rows x cols x bands)."""
    fields = {}
    for line in open(hdr_path):
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key.strip()] = value.strip()
    rows, cols, bands = (int(fields[k]) for k in ("lines", "samples", "bands"))
    dtype = {"1": np.uint8, "2": np.int16, "4": np.float32, "12": np.uint16}[fields["data type"]]
    data = np.fromfile(hdr_path[:-4] + ".dat", dtype=dtype)
    interleave = fields.get("interleave", "bsq").lower()
    if interleave == "bip":
        return data.reshape(rows, cols, bands)
    if interleave == "bsq":
        return data.reshape(bands, rows, cols).transpose(1, 2, 0)
    return data.reshape(rows, bands, cols).transpose(0, 2, 1)


out, fraction, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if len(sys.argv) == 5:
    m = sio.loadmat(sys.argv[4])
    cube = m["SamSon"].astype(np.float64)    # rows x cols x bands
    abund = m["A"]                            # rows x cols x 3
    gt = (abund.argmax(axis=2) + 1).astype(np.uint8)
    gt[abund.max(axis=2) < 0.7] = 0
    name = "Samson"
else:
    cube = envi(sys.argv[4]).astype(np.float64)
    gt = envi(sys.argv[5])[:, :, 0].copy()
    name = sys.argv[4]

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
                 " ".join(f"{j + 1}:{float(v)!r}" for j, v in enumerate(flat[i])) + "\n")
counts = [int((train == k).sum()) for k in range(1, int(gt.max()) + 1)]
print(f"{name}: {cube.shape[0]} x {cube.shape[1]} px, {int((gt > 0).sum())} labelled pixels, training {int(mask.sum())} "
      f"(per class {counts}), {features.shape[2]} standardised bands")
