#!/usr/bin/env python3
"""PyTorch peer on a GPU (bench/gpu-check.sh): the Lange et al. (IGARSS 2018)
3D-CNN of ../shared/peers/torch_lange3dcnn.py, timed per training step on
--device cuda (default) or cpu, with cuDNN's autotuner on and TF32 off (FP32
as hsi's default), synchronising before every clock read.

Usage: torch_lange3dcnn_gpu.py [bands] [batch] [steps] [--device cuda] [--infer-batch N]
Prints one line: train_samples_per_s=... infer_samples_per_s=... (inference:
5 timed batches of --infer-batch, default the training batch, after a warm-up).
Exits 3 with a reason on stderr when torch or a CUDA device is missing."""
import argparse, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("bands", nargs="?", type=int, default=220)
ap.add_argument("batch", nargs="?", type=int, default=50)
ap.add_argument("steps", nargs="?", type=int, default=50)
ap.add_argument("--device", default="cuda")
ap.add_argument("--infer-batch", type=int, default=0)
a = ap.parse_args()
try:
    import torch, torch.nn as nn
except ImportError as e:
    print(f"torch_lange3dcnn_gpu: no PyTorch: {e}", file=sys.stderr)
    sys.exit(3)
if a.device.startswith("cuda") and not torch.cuda.is_available():
    print(f"torch_lange3dcnn_gpu: PyTorch {torch.__version__} sees no CUDA device", file=sys.stderr)
    sys.exit(3)
dev = torch.device(a.device)
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(0)

def block(cin, cout, pool, pad):
    layers = [nn.Conv3d(cin, cout, (5, 3, 3)), nn.ReLU(), nn.MaxPool3d((pool, 1, 1))]
    if pad: layers.append(nn.ConstantPad3d((0, 0, 0, 0, 2, 2), 0.0))
    return layers

feat = nn.Sequential(*block(1, 48, 3, True), *block(48, 32, 3, True), *block(32, 32, 2, False), nn.Flatten())
with torch.no_grad():
    n = feat(torch.zeros(1, 1, a.bands, 9, 9)).shape[1]
model = nn.Sequential(feat, nn.Linear(n, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, 16)).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(a.batch, 1, a.bands, 9, 9, device=dev)
y = torch.randint(0, 16, (a.batch,), device=dev)
lossf = nn.CrossEntropyLoss()

def sync():
    if dev.type == "cuda": torch.cuda.synchronize()

def step():
    opt.zero_grad(); loss = lossf(model(x), y); loss.backward(); opt.step()

for _ in range(5): step()
sync(); t = time.perf_counter()
for _ in range(a.steps): step()
sync(); dt = (time.perf_counter() - t) / a.steps
ib = a.infer_batch or a.batch
model.eval()
with torch.no_grad():
    xb = torch.randn(ib, 1, a.bands, 9, 9, device=dev)
    model(xb); sync()
    t = time.perf_counter()
    for _ in range(5): model(xb).cpu()  # the outputs reach the host, as hsi's do
    di = time.perf_counter() - t
name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
print(f"flatten={n} train_samples_per_s={a.batch/dt:.1f} infer_samples_per_s={5*ib/di:.1f} "
      f"torch={torch.__version__} cudnn={torch.backends.cudnn.version()} device=\"{name}\"")
