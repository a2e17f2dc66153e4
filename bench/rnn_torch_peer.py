#!/usr/bin/env python3
"""PyTorch CPU peer of cnn3d/specs/mou2017_rnn.cfg for bench/rnn_bench.sh:
nn.GRU(1, UNITS) over each spectrum (one band per step), its last state into
nn.Linear(UNITS, 16), Adam lr 3e-3, cross-entropy; the timing protocol of
bench/cnn_throughput.c: 3 warm-up training steps on one random batch, STEPS
timed steps; inference: one warm-up pass, then 5 timed passes of 100 samples.
Usage: rnn_torch_peer.py [bands] [batch] [steps] [threads] [units] [lstm|gru]"""
import sys
import time

import torch
import torch.nn as nn

bands = int(sys.argv[1]) if len(sys.argv) > 1 else 200
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
units = int(sys.argv[5]) if len(sys.argv) > 5 else 64
kind = sys.argv[6] if len(sys.argv) > 6 else "gru"
torch.set_num_threads(threads)
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(1, units, batch_first=True)
        self.head = nn.Linear(units, 16)

    def forward(self, x):  # x (N, bands, 1)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
lossf = nn.CrossEntropyLoss()
x = torch.randn(batch, bands, 1)
y = torch.randint(0, 16, (batch,))


def step():
    opt.zero_grad()
    loss = lossf(model(x), y)
    loss.backward()
    opt.step()


for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(steps):
    step()
dt = (time.perf_counter() - t) / steps
model.eval()
with torch.no_grad():
    xb = torch.randn(100, bands, 1)
    model(xb)
    t = time.perf_counter()
    for _ in range(5):
        model(xb)
    di = (time.perf_counter() - t) / 5
print(f"kind={kind} units={units} bands={bands} batch={batch} train_samples_per_s={batch / dt:.1f} "
      f"infer_samples_per_s={100 / di:.1f} threads={torch.get_num_threads()} torch={torch.__version__}")
