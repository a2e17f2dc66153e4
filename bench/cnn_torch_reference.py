#!/usr/bin/python3
"""PyTorch reference for the accuracy check of bench/cnn_accuracy.sh.

Trains the Lange et al. (IGARSS 2018) 3D-CNN with the protocol of
cnn3d/specs/lange2018.cfg as hsi does it: bands standardised with the mean
and standard deviation of the training pixels, 9 x 9 patches with mirrored
borders, Glorot-uniform weights and zero biases (Keras defaults), softmax
output, mean squared error against one-hot targets, SGD with learning rate
1.0 and Keras decay lr / (1 + 5e-6 * iterations), batch 50, a seeded shuffle
every epoch. Prints the overall accuracy on the test pixels.

With --spec SPEC (e.g. cnn3d/specs/lange2018_adam.cfg) the protocol is the
[net] section of that spec instead, as `hsi cnn train` runs it: optimizer
(sgd with momentum/nesterov, or adam with beta1, beta2, epsilon), loss (cce
on the logits, or mse on the softmax), learning_rate, Keras decay, batch,
epochs (the EPOCHS argument still overrides them), validation_split (the
same held-out pixels as hsi: the training pixels shuffled with xoshiro256**
seeded with seed ^ 0x5eed5eed, the last floor(F n) held out), patience
(early stopping on the validation loss; the best epoch's weights are kept
when training stops or its epochs end), the learning-rate schedule
(constant, step, cosine, plateau) and its warm-up, all by the formulas of
cnn3d/schedule.c. The topology stays Lange et al.'s (the spec must have it).

Usage: cnn_torch_reference.py CUBE.dat TRAIN.dat TEST.dat EPOCHS
           [--seed S] [--spec SPEC] [--init INIT.ckpt [--perturb EPS]] [--save-params FILE.npy]
(ENVI files as written by `hsi convert`; the header gives the layout.)

With --init INIT.ckpt, a checkpoint written by `hsi cnn train --epochs 0` (the net as hsi
initialised it), the run starts from hsi's initial weights and replays hsi's
sample order: the training pixels permuted as hsi's validation split does it
(xoshiro256** seeded with seed ^ 0x5eed5eed), then every epoch's shuffle from
the RNG state stored in the checkpoint. Both engines then see the same
weights and the same batches; only their floating-point arithmetic differs.
--perturb EPS multiplies those weights by 1 + EPS * N(0, 1) noise (seed 0),
to measure how fast the training itself amplifies a rounding-sized change;
--save-params writes the trained parameters (flat, hsi's order) as .npy.
"""
import argparse, math, struct, sys, time
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


M64 = (1 << 64) - 1


class Xoshiro:
    """hsi's RNG (base/rng.c): xoshiro256**, seeded through splitmix64."""

    def __init__(self, seed=None, state=None):
        if state is None:
            x, state = seed & M64, []
            for _ in range(4):
                x = (x + 0x9E3779B97F4A7C15) & M64
                z = x
                z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
                z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
                state.append(z ^ (z >> 31))
        self.s = list(state)

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def u64(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.u64()
            if x < limit:
                return x % n

    def shuffle(self, v):  # hsi_rng_shuffle: Fisher-Yates from the end
        for i in range(len(v), 1, -1):
            j = self.below(i)
            v[i - 1], v[j] = v[j], v[i - 1]
        return v


def read_hsi_checkpoint(path):
    """Parameters (flat, PyTorch's order and layouts), RNG state, seed and
    epoch of an hsi checkpoint (layout: cnn3d/checkpoint.c)."""
    b = open(path, "rb").read()
    if b[:8] != b"HSICNN\0\1":
        sys.exit(f"{path}: not an hsi CNN checkpoint")
    pos = 12
    (spec_len,) = struct.unpack_from("<I", b, pos)
    pos += 4 + spec_len + 16
    n_params, n_state, _iterations, epoch = struct.unpack_from("<QQQI", b, pos)
    pos += 28
    rng = list(struct.unpack_from("<4Q", b, pos))
    pos += 32 + 8
    (seed,) = struct.unpack_from("<Q", b, pos)
    # The parameters, state and (when saved) the optimiser moments end the file.
    end = len(b) - 8
    for copies in (3, 1):
        start = end - 4 * (copies * n_params + n_state)
        if start > 0 and b[start - 1] == (copies == 3):
            return np.frombuffer(b, "<f4", n_params, start).copy(), rng, seed, epoch
    sys.exit(f"{path}: cannot find the parameters")


def read_hsi_init(path):
    params, rng, seed, epoch = read_hsi_checkpoint(path)
    if epoch != 0:
        sys.exit(f"{path}: trained for {epoch} epochs; give a checkpoint from --epochs 0")
    return params, rng, seed


def read_protocol(path):
    """The [net] keys of an hsi spec that set the training protocol."""
    p = {"optimizer": "sgd", "loss": "cce", "learning_rate": 0.01, "decay": 0.0, "momentum": 0.0,
         "nesterov": False, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0,
         "batch": 32, "epochs": 10, "validation_split": 0.0, "patience": 0,
         "schedule": "constant", "warmup": 0}
    section = None
    kinds = []
    for line in open(path):
        line = line.split("#")[0].split(";")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            if section != "net":
                kinds.append(section)
            continue
        if section != "net" or "=" not in line:
            continue
        k, v = (t.strip() for t in line.split("=", 1))
        if k == "optimiser":
            k = "optimizer"
        if k in ("learning_rate", "decay", "momentum", "beta1", "beta2", "epsilon", "weight_decay",
                 "validation_split"):
            p[k] = float(v)
        elif k in ("batch", "epochs", "patience", "warmup"):
            p[k] = int(v)
        elif k == "nesterov":
            p[k] = v in ("1", "true", "yes")
        elif k == "loss":
            p[k] = "mse" if v in ("mse", "mean_squared_error") else "cce"
        elif k in ("optimizer", "schedule"):
            p[k] = v
    lange = ["conv3d", "maxpool3d", "zeropad3d"] * 2 + ["conv3d", "maxpool3d", "flatten", "dense", "dense", "dense"]
    if kinds != lange:
        sys.exit(f"{path}: not the Lange et al. topology ({', '.join(kinds)})")
    sched = p["schedule"].split(":")
    p["sched_kind"] = sched[0]
    defaults = {"constant": [], "step": [10, 0.1], "cosine": [0.0], "plateau": [5, 0.1, 0.0]}[sched[0]]
    p["sched_args"] = [float(x) for x in sched[1:]] + defaults[len(sched) - 1:]
    return p


class Schedule:
    """hsi_cnn_current_lr (cnn3d/schedule.c): Keras decay x schedule x warm-up."""

    def __init__(self, p, epochs, steps):
        self.p, self.epochs, self.steps = p, epochs, steps
        self.best, self.wait, self.scale = float("inf"), 0, 1.0

    def lr(self, epoch, iterations):
        p, a = self.p, self.p["sched_args"]
        base = p["learning_rate"]
        lr = base / (1.0 + p["decay"] * iterations)
        kind, w = p["sched_kind"], p["warmup"]
        if kind == "step":
            lr *= a[1] ** (epoch // int(a[0]))
        elif kind == "cosine":
            T = max(self.epochs - w, 1)
            t = min(max(epoch - w, 0), T)
            m = a[0] / base
            lr *= m + (1 - m) * 0.5 * (1 + math.cos(math.pi * t / T))
        elif kind == "plateau":
            lr *= self.scale
        if w > 0:
            lr *= min(1.0, (iterations + 1) / (w * self.steps))
        return lr

    def epoch_end(self, epochs_done, loss):
        if self.p["sched_kind"] != "plateau" or not math.isfinite(loss) or epochs_done <= self.p["warmup"]:
            return
        patience, gamma, min_lr = self.p["sched_args"]
        if loss < self.best:
            self.best, self.wait = loss, 0
            return
        self.wait += 1
        if self.wait >= patience:
            self.scale = max(self.scale * gamma, min_lr / self.p["learning_rate"])
            self.wait = 0


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference of hsi's Lange et al. 3D-CNN protocol")
    ap.add_argument("cube"), ap.add_argument("train"), ap.add_argument("test")
    ap.add_argument("epochs", type=int)
    ap.add_argument("seed_arg", nargs="?", type=int, help="the seed (older form of --seed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", help="start from this `hsi cnn train --epochs 0` checkpoint")
    ap.add_argument("--perturb", type=float, default=0.0)
    ap.add_argument("--save-params")
    ap.add_argument("--spec", help="train with this hsi spec's [net] protocol (Lange topology)")
    args = ap.parse_args()
    seed = args.seed_arg if args.seed_arg is not None else args.seed
    cube_path, train_path, test_path, epochs = args.cube, args.train, args.test, args.epochs
    init = read_hsi_init(args.init) if args.init else None
    proto = read_protocol(args.spec) if args.spec else None
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
    hdr = open(train_path.rsplit(".", 1)[0] + ".hdr").read()
    for line in hdr.splitlines():
        # hsi's net has an output per class of the class table (hsi cnn train).
        if line.strip().lower().startswith("classes") and "=" in line:
            classes = max(classes, int(line.split("=", 1)[1]) - 1)

    def patches(rc):
        out = np.empty((len(rc), 1, bands, 2 * r + 1, 2 * r + 1), np.float32)
        for i, (y, x) in enumerate(rc):
            out[i, 0] = padded[y:y + 2 * r + 1, x:x + 2 * r + 1, :].transpose(2, 0, 1)
        return torch.from_numpy(out)

    tr = np.argwhere(train > 0)  # row-major, as hsi lists them
    if init is not None:
        tr = tr[Xoshiro(seed=init[2] ^ 0x5EED5EED).shuffle(list(range(len(tr))))]
    va = tr[:0]
    if proto is not None:
        # hsi's validation split: the same pixels held out (cmd_cnn.c); with
        # --init the permutation above is that one already.
        if init is None:
            tr = tr[Xoshiro(seed=seed ^ 0x5EED5EED).shuffle(list(range(len(tr))))]
        n_val = int(math.floor(proto["validation_split"] * len(tr)))
        tr, va = tr[:len(tr) - n_val], tr[len(tr) - n_val:]
    te = np.argwhere(test > 0)
    ytr = torch.from_numpy(train[tr[:, 0], tr[:, 1]] - 1)
    yva = torch.from_numpy(train[va[:, 0], va[:, 1]] - 1)
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
    if init is not None:
        # hsi's net has an output per class of the label files' class table
        # (hsi cnn train), which may exceed the largest label present: take
        # the count from the checkpoint (the last layer has 128 + 1 weights
        # per class).
        rest = len(init[0]) - sum(p.numel() for p in feat.parameters()) - (n * 128 + 128) - (128 * 128 + 128)
        if rest <= 0 or rest % 129 or rest // 129 < classes:
            sys.exit(f"{args.init}: not this script's net for {bands} bands and {classes} classes")
        classes = rest // 129
    model = nn.Sequential(feat, nn.Linear(n, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, classes), nn.Softmax(dim=1))
    for m in model.modules():
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    shuffle_rng = None
    if init is not None:
        flat, state, _ = init
        if args.perturb:
            noise = np.random.RandomState(0).standard_normal(flat.shape).astype(np.float32)
            flat = flat * (1 + np.float32(args.perturb) * noise)
        if len(flat) != sum(p.numel() for p in model.parameters()):
            sys.exit("the checkpoint's net is not this one")
        with torch.no_grad():
            at = 0
            for p in model.parameters():
                p.copy_(torch.from_numpy(flat[at:at + p.numel()]).view_as(p))
                at += p.numel()
        shuffle_rng = Xoshiro(state=state)
    if proto is not None:
        return train_protocol(model, proto, epochs, xtr, ytr, patches(va), yva, patches, te, yte, classes,
                              shuffle_rng)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + 5e-6 * it))
    onehot = nn.functional.one_hot(ytr, classes).float()
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        if shuffle_rng is not None:
            perm = torch.tensor(shuffle_rng.shuffle(list(range(len(ytr)))))
        else:
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
    if args.save_params:
        np.save(args.save_params, torch.cat([p.detach().flatten() for p in model.parameters()]).numpy())
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(te), 500):
            p = model(patches(te[s:s + 500])).argmax(1).numpy()
            correct += int((p == yte[s:s + 500]).sum())
    print(f"overall_accuracy={correct / len(te):.4f} pixels={len(te)} epochs={epochs}")


def train_protocol(model, p, epochs, xtr, ytr, xva, yva, patches, te, yte, classes, shuffle_rng=None):
    """Training as `hsi cnn train` runs a spec's protocol (see the docstring);
    with shuffle_rng (--init), hsi's batch order."""
    model[-1] = nn.Identity()  # logits; softmax below
    params = list(model.parameters())
    if p["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=p["learning_rate"], betas=(p["beta1"], p["beta2"]),
                               eps=p["epsilon"], weight_decay=p["weight_decay"])
    else:
        opt = torch.optim.SGD(params, lr=p["learning_rate"], momentum=p["momentum"],
                              nesterov=p["nesterov"], weight_decay=p["weight_decay"])
    batch = p["batch"]
    steps = (len(ytr) + batch - 1) // batch
    sched = Schedule(p, epochs, steps)

    def loss_of(logits, y):
        if p["loss"] == "mse":
            return nn.functional.mse_loss(torch.softmax(logits, 1), nn.functional.one_hot(y, classes).float())
        # hsi clips p to [1e-7, 1 - 1e-7] in the loss (Keras); the log-softmax differs only there.
        return nn.functional.nll_loss(torch.log(torch.softmax(logits, 1).clamp(1e-7, 1 - 1e-7)), y)

    best, best_state, since_best, iterations = float("inf"), None, 0, 0
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        if shuffle_rng is not None:
            perm = torch.tensor(shuffle_rng.shuffle(list(range(len(ytr)))))
        else:
            perm = torch.randperm(len(ytr))
        total = 0.0
        for s in range(0, len(perm), batch):
            idx = perm[s:s + batch]
            for g in opt.param_groups:
                g["lr"] = sched.lr(epoch, iterations)
            opt.zero_grad()
            logits = model(xtr[idx])
            if p["loss"] == "cce":
                loss = nn.functional.cross_entropy(logits, ytr[idx])  # the same gradient as hsi's fused softmax
            else:
                loss = loss_of(logits, ytr[idx])
            loss.backward()
            opt.step()
            iterations += 1
            total += loss.item() * len(idx)
        line = f"epoch {epoch + 1}/{epochs} loss {total / len(perm):.4f} lr {sched.lr(epoch, iterations - 1):.3g}"
        monitored = total / len(perm)
        if len(yva):
            model.eval()
            with torch.no_grad():
                vl = float(loss_of(model(xva), yva))
            monitored = vl
            line += f" val_loss {vl:.4f}"
            if vl < best:
                best, since_best = vl, 0
                best_state = [q.detach().clone() for q in params]
                line += " *"
            else:
                since_best += 1
        sched.epoch_end(epoch + 1, monitored)
        print(f"{line} {time.time() - t0:.0f}s", flush=True)
        stop = p["patience"] > 0 and since_best >= p["patience"]
        if (stop or epoch == epochs - 1) and best_state is not None and since_best > 0 and p["patience"] > 0:
            with torch.no_grad():
                for q, b in zip(params, best_state):
                    q.copy_(b)
        if stop:
            break
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(te), 500):
            pr = model(patches(te[s:s + 500])).argmax(1).numpy()
            correct += int((pr == yte[s:s + 500]).sum())
    print(f"overall_accuracy={correct / len(te):.4f} pixels={len(te)} epochs={epoch + 1}")


if __name__ == "__main__":
    main()
