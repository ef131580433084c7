"""PyTorch twin of layer_times.rs: the same layers, shapes and timing (mean of 5 after one
untimed call), on the CPU. Needs only torch.

python trainer/examples/layer_times.py
"""
import time

import torch
import torch.nn.functional as F

BATCH, REPETITIONS = 64, 5


def timed(f):
    f()
    start = time.perf_counter()
    for _ in range(REPETITIONS):
        f()
    return (time.perf_counter() - start) * 1000 / REPETITIONS


def report(name, x, w, layer):
    forward = timed(lambda: layer(x.detach(), w.detach()))

    def both():
        x.grad = w.grad = None
        layer(x, w).sum().backward()

    print(f"{name:<28} {forward:>8.1f} {timed(both):>14.1f}")


torch.manual_seed(0)
print(f"{'layer (batch 64)':<28} {'fwd ms':>8} {'fwd+bwd ms':>14}")
for a, b, side in [(1024, 512, 4), (512, 256, 8), (256, 128, 16), (128, 3, 32)]:
    x = torch.randn(BATCH, a, side, side, requires_grad=True)
    w = (torch.randn(a, b, 4, 4) * 0.02).requires_grad_()
    report(f"conv_transpose {a}->{b} @{side}", x, w, lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1))
for a, b, side in [(3, 64, 64), (64, 128, 32), (128, 256, 16), (256, 512, 8)]:
    x = torch.randn(BATCH, a, side, side, requires_grad=True)
    w = (torch.randn(b, a, 4, 4) * 0.02).requires_grad_()
    report(f"conv {a}->{b} @{side}", x, w, lambda x, w: F.conv2d(x, w, stride=2, padding=1))
for c, side in [(512, 8), (256, 16), (128, 32)]:
    norm = torch.nn.BatchNorm2d(c)
    x = torch.randn(BATCH, c, side, side, requires_grad=True)
    forward = timed(lambda: norm(x.detach()))

    def both():
        x.grad = None
        norm(x).sum().backward()

    print(f"{'batch_norm ' + str(c) + ' @' + str(side):<28} {forward:>8.1f} {timed(both):>14.1f}")
