#!/usr/bin/python3
"""PyTorch reference for the accuracy check of bench/cnn_accuracy.sh.

Trains the Lange et al. (IGARSS 2018) 3D-CNN with the protocol of
cnn3d/specs/lange2018.cfg as hsi does it: bands standardised with the mean
and standard deviation of the training pixels, 9 x 9 patches with mirrored
borders, Glorot-uniform weights and zero biases (Keras defaults), softmax
output, mean squared error against one-hot targets, SGD with learning rate
1.0 and Keras decay lr / (1 + 5e-6 * iterations), batch 50, a seeded shuffle
every epoch. Prints the overall accuracy on the test pixels.

Usage: cnn_torch_reference.py CUBE.dat TRAIN.dat TEST.dat EPOCHS [SEED]
(ENVI files as written by `hsi convert`; the header gives the layout.)
"""
import sys, time
import numpy as np
import torch, torch.nn as nn


def read_envi(path):
    hdr = {}
    with open(path.rsplit(".", 1)[0] + ".hdr") as f:
        text = f.read()
    for line in text.splitlines():
        if "=" in line and not line.strip().startswith("{"):
            k, v = line.split("=", 1)
            hdr[k.strip().lower()] = v.strip()
    rows, cols, bands = int(hdr["lines"]), int(hdr["samples"]), int(hdr["bands"])
    dtype = {1: np.uint8, 2: np.int16, 4: np.float32, 5: np.float64, 12: np.uint16}[int(hdr["data type"])]
    if hdr.get("byte order", "0") == "1":
        dtype = np.dtype(dtype).newbyteorder(">")
    data = np.fromfile(path, dtype=dtype)
    inter = hdr.get("interleave", "bsq").lower()
    if inter == "bsq":
        data = data.reshape(bands, rows, cols).transpose(1, 2, 0)
    elif inter == "bil":
        data = data.reshape(rows, bands, cols).transpose(0, 2, 1)
    else:
        data = data.reshape(rows, cols, bands)
    return np.ascontiguousarray(data)


def main():
    cube_path, train_path, test_path, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(2)
    cube = read_envi(cube_path).astype(np.float32)
    train = read_envi(train_path)[:, :, 0].astype(np.int64)
    test = read_envi(test_path)[:, :, 0].astype(np.int64)
    rows, cols, bands = cube.shape
    mask = train > 0
    mean = cube[mask].mean(axis=0)
    std = cube[mask].std(axis=0)  # population std, as features/preprocess.c
    std[std == 0] = 1
    cube = (cube - mean) / std
    r = 4
    padded = np.pad(cube, ((r, r), (r, r), (0, 0)), mode="reflect")  # mirror without repeating the edge
    classes = int(max(train.max(), test.max()))

    def patches(rc):
        out = np.empty((len(rc), 1, bands, 2 * r + 1, 2 * r + 1), np.float32)
        for i, (y, x) in enumerate(rc):
            out[i, 0] = padded[y:y + 2 * r + 1, x:x + 2 * r + 1, :].transpose(2, 0, 1)
        return torch.from_numpy(out)

    tr = np.argwhere(train > 0)
    te = np.argwhere(test > 0)
    ytr = torch.from_numpy(train[tr[:, 0], tr[:, 1]] - 1)
    yte = test[te[:, 0], te[:, 1]] - 1
    xtr = patches(tr)

    def block(cin, cout, pool, pad):
        layers = [nn.Conv3d(cin, cout, (5, 3, 3)), nn.ReLU(), nn.MaxPool3d((pool, 1, 1))]
        if pad:
            layers.append(nn.ConstantPad3d((0, 0, 0, 0, 2, 2), 0.0))
        return layers

    feat = nn.Sequential(*block(1, 48, 3, True), *block(48, 32, 3, True), *block(32, 32, 2, False), nn.Flatten())
    with torch.no_grad():
        n = feat(torch.zeros(1, 1, bands, 9, 9)).shape[1]
    model = nn.Sequential(feat, nn.Linear(n, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, classes), nn.Softmax(dim=1))
    for m in model.modules():
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + 5e-6 * it))
    onehot = nn.functional.one_hot(ytr, classes).float()
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr))
        total = 0.0
        for s in range(0, len(perm), 50):
            idx = perm[s:s + 50]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xtr[idx]), onehot[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs} loss {total / len(perm):.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(te), 500):
            p = model(patches(te[s:s + 500])).argmax(1).numpy()
            correct += int((p == yte[s:s + 500]).sum())
    print(f"overall_accuracy={correct / len(te):.4f} pixels={len(te)} epochs={epochs}")


if __name__ == "__main__":
    main()
