"""Multi-rate pruning of a plain MLP in your own training loop (no mrmp trainer, no downloads).

One training run gives a network usable at *any* pruning rate: the weights become latent
tensors Ŵ behind band-stop masks, every step trains a few rates on the shared latents, and a
KL term keeps the latents' distribution at the prior, so the threshold of any rate — also one
never trained — is known in advance.

Data: three interleaved 2-D spirals, embedded by a random rotation in 10-D with 8 noise
dimensions, generated from a seed.

    python examples/multirate_mlp.py            # ~20 s on one CPU core, prints a table
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp import MultiRate, multirate, sample_rates, sigma_at

SEEN = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
UNSEEN = (0.55, 0.75, 0.87, 0.93)


def make_data(
    n: int = 3000, dim: int = 10, classes: int = 3, noise: float = 0.08, seed: int = 0, task: int = 0
) -> tuple[Tensor, Tensor]:
    """``n`` points (n, dim) on ``classes`` interleaved spiral arms, and their labels (n,).

    ``seed`` draws the points; ``task`` the embedding (same task: same problem)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=g)
    t = torch.rand(n, generator=g) ** 0.5  # radius in (0, 1), denser outside
    angle = 2 * math.pi * y / classes + 3.0 * math.pi * t
    plane = torch.stack([t * angle.cos(), t * angle.sin()], 1) + noise * torch.randn(n, 2, generator=g)
    x = torch.cat([plane * 2, 0.5 * torch.randn(n, dim - 2, generator=g)], 1)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(task)))
    return x @ rotation, y


def make_model(dim: int = 10, hidden: int = 256, classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes)
    )


def train(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    seen: tuple[float, ...] = SEEN,
    epochs: int = 40,
    batch_size: int = 128,
    rates_per_step: int = 3,
    kl_weight: float = 1.0,
    lr: float = 3e-3,
    sigma: tuple[float, float] = (2.0, 200.0),
    seed: int = 0,
) -> MultiRate:
    """Make every weight matrix of ``model`` multi-rate and train it; returns the handle."""
    g = torch.Generator().manual_seed(seed)
    mr = multirate(model, prior="gaussian", generator=g)  # Ŵ drawn from the prior
    # W = s·Ŵ·mask: each latent Ŵ gets the learning rate lr / s, so that W moves as a dense
    # weight would under lr (Adam's steps do not depend on the gradient's scale)
    opt = torch.optim.Adam(mr.param_groups(lr), lr=lr)
    steps = epochs * math.ceil(len(x) / batch_size)
    step = 0
    model.train()
    mr.set_hard(False)  # soft band-stop masks while training
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            mr.set_sigma(sigma_at(step / steps, *sigma))  # masks get crisper over training
            rates = sample_rates(seen, rates_per_step, g)  # lowest, highest, random others
            ce = 0.0
            for r in rates:  # all rates share the same latent weights
                mr.set_rate(r)
                ce = ce + F.cross_entropy(model(x[idx]), y[idx])
            loss = ce / len(rates) + kl_weight * mr.kl()  # + λ · D_KL(P ‖ Q)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    mr.set_hard(True)
    model.eval()
    return mr


@torch.no_grad()
def evaluate(
    model: nn.Module, mr: MultiRate, x: Tensor, y: Tensor, rates: tuple[float, ...]
) -> dict[float, tuple[float, float]]:
    """{rate: (accuracy, observed pruned fraction)} with hard masks, one forward per rate."""
    out = {}
    for r in rates:
        with mr.at_rate(r):  # instant: no retraining, no copy
            out[r] = (float((model(x).argmax(1) == y).float().mean()), mr.observed_rate())
    return out


def run(epochs: int = 40, seed: int = 0, n: int = 3000) -> dict[float, tuple[float, float]]:
    """Train on ``n`` points, evaluate on ``n`` fresh ones at seen and unseen rates."""
    x, y = make_data(n, seed=2 * seed, task=seed)
    x_test, y_test = make_data(n, seed=2 * seed + 1, task=seed)
    model = make_model(seed=seed)
    mr = train(model, x, y, epochs=epochs, seed=seed)
    return evaluate(model, mr, x_test, y_test, tuple(sorted((0.0, *SEEN, *UNSEEN))))


def format_table(results: dict[float, tuple[float, float]]) -> str:
    lines = ["  rate  seen  observed  accuracy"]
    for r, (acc, observed) in results.items():
        kind = "yes" if r in SEEN else ("-" if r == 0 else "no")
        lines.append(f"  {r:4.2f}  {kind:>4}  {observed:8.3f}  {100 * acc:7.1f}%")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(format_table(run(args.epochs, args.seed)))


if __name__ == "__main__":
    main()
