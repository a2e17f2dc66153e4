#!/usr/bin/env python3
"""trees_sdap_higra.py - the SDAP feature cube of `hsi profile` computed with
Higra, timed, and compared with hsi's output.

    trees_sdap_higra.py HSI_FEATURES.tif K AREAS STDS [REPEATS]

HSI_FEATURES.tif is the output of `hsi profile SCENE --pca K --sdap area=AREAS
--sdap std=STDS`; its component bands (the first of each block) are the
input here, so both sides filter the same images. Per component: Higra's
tree of shapes of the component padded with its median border value (hsi's
definition, so that the trees are the same), area and standard-deviation
attributes, and one reconstruct_leaf_data per threshold (the direct rule).
Prints the best profile time and how many filtered bands equal hsi's
exactly, or closely (a std computed with other rounding can fall on the
other side of a threshold for a few nodes).
"""
import sys
import time

import numpy as np
import higra as hg
from osgeo import gdal


def median_padded(img):
    border = np.concatenate([img[0, :], img[-1, :], img[1:-1, 0], img[1:-1, -1]])
    border = np.sort(border.astype(np.float32))
    k = len(border)
    m = border[k // 2] if k % 2 else np.float32(0.5) * border[k // 2 - 1] + np.float32(0.5) * border[k // 2]
    return np.pad(img, 1, constant_values=m)


def sdap(pcs, areas, stds):
    out = []
    for img in pcs:
        padded = median_padded(img)
        tree, alt = hg.component_tree_tree_of_shapes_image2d(padded, padding="none", original_size=True)
        leaf = padded.reshape(-1).astype(np.float64)
        area = hg.attribute_area(tree)
        # sums, not Accumulators.mean: that averages the children's means unweighted
        mean = hg.accumulate_sequential(tree, leaf, hg.Accumulators.sum) / area
        mean2 = hg.accumulate_sequential(tree, leaf * leaf, hg.Accumulators.sum) / area
        std = np.sqrt(np.maximum(mean2 - mean * mean, 0))
        out.append(img)
        for attr, thresholds in ((area, areas), (std, stds)):
            for t in thresholds:
                out.append(hg.reconstruct_leaf_data(tree, alt, attr < t)[1:-1, 1:-1])
    return np.stack(out)


def main():
    hsi_out, k = sys.argv[1], int(sys.argv[2])
    areas = [float(v) for v in sys.argv[3].split(",")]
    stds = [float(v) for v in sys.argv[4].split(",")]
    repeats = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    ours = gdal.Open(hsi_out).ReadAsArray()
    per = 1 + len(areas) + len(stds)
    assert ours.shape[0] == k * per, "unexpected band count %d" % ours.shape[0]
    pcs = ours[::per].astype(np.float32)
    rows, cols = pcs.shape[1:]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        feats = sdap(pcs, areas, stds)
        best = min(best, time.perf_counter() - t0)
    print("sdap higra %.4f s for %d bands of %d x %d" % (best, feats.shape[0], rows, cols))
    exact = close = 0
    for c in range(k):
        for j in range(1, per):
            a, b = ours[c * per + j], feats[c * per + j]
            if np.array_equal(a, b):
                exact += 1
            elif np.mean(a != b) < 0.01:
                close += 1
    print("sdap higra-vs-hsi %d of %d filtered bands identical, %d differ in < 1%% of pixels"
          % (exact, k * (per - 1), close))


if __name__ == "__main__":
    main()
