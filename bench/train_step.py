#!/usr/bin/env python3
"""PyTorch peer of the training-step benchmark (`receptor-bench train-step`).

The same small CNN as bench/smallcnn.rcp, written with nn.Sequential. Two ways to run it:

  python3 bench/train_step.py --standalone [--steps N] [--threads T]
      builds the model with PyTorch's own initialisation, times N steps after a warm-up and prints one
      JSON object.

  python3 bench/train_step.py --serve --data DIR [--threads T]
      loads the weights and the batch the .NET side wrote to DIR (raw little-endian float32 / int64 files
      listed in DIR/manifest.json), answers one JSON line per command read from stdin:
        info            -> versions, thread counts, parameter count
        threads N       -> torch.set_num_threads(N)
        batch N         -> train on the first N images of the batch from now on
        layout L        -> nchw or channels_last input from now on
        steps N         -> {"steps": [...]}: N timed training steps (wall, CPU and phase milliseconds, loss)
        op I N          -> layer case I in isolation: median forward and forward+backward milliseconds
        quit
      The .NET side interleaves its own variants with calls to this process (A B C A B C ...).

A training step is: forward, cross-entropy, zero_grad(set_to_none=True), backward, SGD step
(lr 0.01, momentum 0.9), all on one fixed batch of 128 images 3x32x32.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LR = 0.001
MOMENTUM = 0.9


def small_cnn():
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(3, 32), *block(32, 32), nn.MaxPool2d(2),
        *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10))


def state_tensors(model):
    """Parameters then buffers, in registration order: the order the .NET side writes them in."""
    tensors = [p for p in model.parameters()]
    tensors += [b for b in model.buffers() if b.dtype != torch.int64]  # num_batches_tracked is not copied
    return tensors


def load(model, data_dir):
    with open(os.path.join(data_dir, "manifest.json")) as f:
        manifest = json.load(f)
    import numpy as np
    targets = state_tensors(model)
    if len(targets) != len(manifest["tensors"]):
        raise SystemExit("train_step.py: %d tensors in the manifest, %d in the model"
                         % (len(manifest["tensors"]), len(targets)))
    raw = np.fromfile(os.path.join(data_dir, "weights.f32"), dtype="<f4")
    offset = 0
    with torch.no_grad():
        for t, entry in zip(targets, manifest["tensors"]):
            shape = tuple(entry["shape"])
            if tuple(t.shape) != shape:
                raise SystemExit("train_step.py: shape %s expected for %s, model has %s"
                                 % (shape, entry["name"], tuple(t.shape)))
            n = t.numel()
            t.copy_(torch.from_numpy(raw[offset:offset + n].copy()).reshape(shape))
            offset += n
    x = torch.from_numpy(np.fromfile(os.path.join(data_dir, "input.f32"), dtype="<f4").copy())
    x = x.reshape(manifest["input"])
    y = torch.from_numpy(np.fromfile(os.path.join(data_dir, "labels.i64"), dtype="<i8").copy())
    return x, y


class Trainer:
    """A model with its SGD optimiser and a fixed batch; step() times one training step by phase."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.xb, self.yb = x, y
        self.optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

        self.n = x.shape[0]
        self.channels_last = False

    def _select(self):
        xb = self.x[:self.n]
        self.xb = xb.contiguous(memory_format=torch.channels_last) if self.channels_last else xb
        self.yb = self.y[:self.n]

    def use_batch(self, n):
        self.n = n
        self._select()

    def use_layout(self, channels_last):
        """Channels-last input (converted once, like a data loader would): the layout Receptor's compiler
        runs in on the CPU. The weights stay as they are, as in the compiled module."""
        self.channels_last = channels_last
        self._select()

    def step(self):
        c0 = time.process_time()
        t0 = time.perf_counter()
        loss = F.cross_entropy(self.model(self.xb), self.yb)
        t1 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        self.optimizer.step()
        value = loss.item()
        t4 = time.perf_counter()
        ms = lambda a, b: (b - a) * 1000.0
        return {"wall": ms(t0, t4), "cpu": (time.process_time() - c0) * 1000.0, "forward": ms(t0, t1),
                "zero_grad": ms(t1, t2), "backward": ms(t2, t3), "optimizer": ms(t3, t4), "loss": value}

    def steps(self, n):
        return [self.step() for _ in range(n)]


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def time_both(fn, n):
    """Median (wall, CPU) milliseconds of n calls after two unmeasured ones."""
    for _ in range(2):
        fn()
    wall, cpu = [], []
    for _ in range(n):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return median(wall), median(cpu)


OP_CASES = [("conv 3→32 @32²", lambda: nn.Conv2d(3, 32, 3, padding=1, bias=False), (128, 3, 32, 32)),
            ("conv 32→32 @32²", lambda: nn.Conv2d(32, 32, 3, padding=1, bias=False), (128, 32, 32, 32)),
            ("conv 32→64 @16²", lambda: nn.Conv2d(32, 64, 3, padding=1, bias=False), (128, 32, 16, 16)),
            ("conv 64→64 @16²", lambda: nn.Conv2d(64, 64, 3, padding=1, bias=False), (128, 64, 16, 16)),
            ("batchnorm 32 @32²", lambda: nn.BatchNorm2d(32), (128, 32, 32, 32)),
            ("relu 32 @32²", lambda: nn.ReLU(), (128, 32, 32, 32)),
            ("maxpool2 32 @32²", lambda: nn.MaxPool2d(2), (128, 32, 32, 32)),
            ("dense 4096→10", lambda: nn.Linear(4096, 10), (128, 4096))]


def op_timing(index, n):
    """One layer at its real shape in isolation: forward (no grad) and forward + backward."""
    name, make, shape = OP_CASES[index]
    module = make()
    inp = torch.randn(*shape, requires_grad=True)

    def fwd():
        with torch.no_grad():
            module(inp)

    def fwdbwd():
        module(inp).sum().backward()
        inp.grad = None
        for p in module.parameters():
            p.grad = None

    (fw, fc), (bw, bc) = time_both(fwd, n), time_both(fwdbwd, n)
    return {"op": name, "forward_ms": fw, "forward_cpu_ms": fc, "forward_backward_ms": bw,
            "forward_backward_cpu_ms": bc}


def info(model):
    return {"torch": torch.__version__,
            "python": sys.version.split()[0],
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "parameters": sum(p.numel() for p in model.parameters())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--standalone", action="store_true")
    ap.add_argument("--data")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = small_cnn()
    model.train()
    if args.standalone:
        x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
        trainer = Trainer(model, x, y)
        trainer.steps(3)
        steps = trainer.steps(args.steps)
        print(json.dumps(dict(info(model), median_ms=median([s["wall"] for s in steps]),
                              median_cpu_ms=median([s["cpu"] for s in steps]), steps=args.steps)))
        return
    if not args.serve or not args.data:
        ap.error("--serve --data DIR or --standalone")
    x, y = load(model, args.data)
    trainer = Trainer(model, x, y)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "info":
            reply = info(model)
        elif words[0] == "steps":
            reply = {"steps": trainer.steps(int(words[1]))}
        elif words[0] == "threads":
            torch.set_num_threads(int(words[1]))
            reply = {"threads": torch.get_num_threads()}
        elif words[0] == "batch":
            trainer.use_batch(int(words[1]))
            reply = {"batch": int(words[1])}
        elif words[0] == "layout":
            trainer.use_layout(words[1] == "channels_last")
            reply = {"layout": words[1]}
        elif words[0] == "op":
            reply = op_timing(int(words[1]), int(words[2]))
        elif words[0] == "quit":
            break
        else:
            reply = {"error": "unknown command " + words[0]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
