#!/usr/bin/env python3
"""trees_higra.py - Higra timings on the same image as trees_bench.

    trees_higra.py IMAGE.f32 ROWS COLS [REPEATS]

Prints lines '<tree> higra <best seconds> <Mpixel/s> <internal nodes>' for
hg.component_tree_max_tree on the 4-adjacency graph and
hg.component_tree_tree_of_shapes_image2d (default: mean padding, Khalimsky
immersion, original size). Higra keeps every pixel as a leaf; 'internal
nodes' counts the others, which is the node count of hsi's trees.
"""
import sys
import time

import numpy as np
import higra as hg


def best_of(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    image = np.fromfile(path, dtype="<f4").reshape(rows, cols)
    n = rows * cols
    graph = hg.get_4_adjacency_graph((rows, cols))
    flat = image.reshape(-1)
    for name, img in (("float", image), ("q16", image.astype(np.uint16) if image.max() < 65536 and image.min() >= 0 and np.all(image == np.round(image)) else None)):
        if img is None:
            continue
        t, (tree, _) = best_of(lambda: hg.component_tree_max_tree(graph, img.reshape(-1)), repeats)
        print("maxtree higra-%s %.6f %.3f %d" % (name, t, n / t / 1e6, tree.num_vertices() - tree.num_leaves()))
        t, (tree, _) = best_of(lambda: hg.component_tree_tree_of_shapes_image2d(img), repeats)
        print("tos higra-%s %.6f %.3f %d" % (name, t, n / t / 1e6, tree.num_vertices() - tree.num_leaves()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
