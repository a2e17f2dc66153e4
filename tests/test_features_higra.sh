#!/bin/bash
# test_features_higra.sh - `hsi profile` against Higra, an independent
# implementation, on random images with few grey levels (full of saddles):
# area thickenings/thinnings from Higra's min/max-trees (4- and 8-adjacency)
# and area filters of Higra's tree of shapes of the image padded with its
# median border value (hsi's definition; Higra then adds no padding of its
# own) must equal hsi's bands exactly. SKIP without Higra.
. "$HSI_SRCDIR/tests/setup.sh"
PY=""
for p in "${HSI_PYTHON3:-}" /usr/bin/python3 python3; do
    [ -n "$p" ] && "$p" -c "import higra, numpy; from osgeo import gdal" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "SKIP: no python3 with higra, numpy and GDAL"; exit 77; }

"$PY" - "$HSI" "$TMP" <<'PYEOF' || fail "hsi profile differs from Higra"
import subprocess, sys
import numpy as np
import higra as hg
from osgeo import gdal

hsi, tmp = sys.argv[1], sys.argv[2]
rows, cols, bands = 13, 17, 48
rng = np.random.default_rng(12)
cube = np.empty((bands, rows, cols), np.float32)
for b in range(bands):
    if b % 4 == 3:
        cube[b] = rng.normal(size=(rows, cols)) * 10
    else:
        cube[b] = rng.integers(0, 2 + b % 5, size=(rows, cols))
ds = gdal.GetDriverByName("GTiff").Create(tmp + "/in.tif", cols, rows, bands, gdal.GDT_Float32)
for b in range(bands):
    ds.GetRasterBand(b + 1).WriteArray(cube[b])
ds = None

def median_padded(img):
    border = np.concatenate([img[0, :], img[-1, :], img[1:-1, 0], img[1:-1, -1]])
    border = np.sort(border.astype(np.float32))
    k = len(border)
    m = border[k // 2] if k % 2 else np.float32(0.5) * border[k // 2 - 1] + np.float32(0.5) * border[k // 2]
    return np.pad(img, 1, constant_values=m)

def area_filter(tree, alt, t):
    area = hg.attribute_area(tree)
    return hg.reconstruct_leaf_data(tree, alt, area < t)

bad = 0
for conn in (4, 8):
    out = "%s/out%d.tif" % (tmp, conn)
    subprocess.run([hsi, "profile", tmp + "/in.tif", "--ap", "area=3,10", "--sdap", "area=2,5,20",
                    "--connectivity", str(conn), "--no-input", "-q", "-o", out], check=True,
                   stdout=subprocess.DEVNULL)
    got = gdal.Open(out).ReadAsArray()
    graph = (hg.get_4_adjacency_graph if conn == 4 else hg.get_8_adjacency_graph)((rows, cols))
    for b in range(bands):
        img = cube[b]
        mx, mxa = hg.component_tree_max_tree(graph, img.reshape(-1))
        mn, mna = hg.component_tree_min_tree(graph, img.reshape(-1))
        p = median_padded(img)
        tos, tosa = hg.component_tree_tree_of_shapes_image2d(p, padding="none", original_size=True)
        want = [area_filter(mn, mna, 10).reshape(rows, cols), area_filter(mn, mna, 3).reshape(rows, cols),
                area_filter(mx, mxa, 3).reshape(rows, cols), area_filter(mx, mxa, 10).reshape(rows, cols)]
        want += [area_filter(tos, tosa, t)[1:-1, 1:-1] for t in (2, 5, 20)]
        for k, w in enumerate(want):
            if not np.array_equal(got[b * 7 + k], w.astype(np.float32)):
                bad += 1
                if bad <= 3:
                    print("band %d output %d (c%d) differs from Higra in %d pixels" %
                          (b + 1, k, conn, int((got[b * 7 + k] != w).sum())), file=sys.stderr)
print("%d of %d bands differ from Higra" % (bad, 2 * bands * 7))
sys.exit(1 if bad else 0)
PYEOF
pass
finish
