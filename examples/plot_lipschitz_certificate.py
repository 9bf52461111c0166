"""
Lipschitz certificate of a small CNN
====================================

:func:`spectra.torch.lipschitz_bound` returns a certified upper bound ``L`` on the l2 Lipschitz constant of a
feed-forward network: the product of certified per-layer constants (the operator norm of each convolution on
the shape it receives, :func:`spectra.conv_norm`; ``||W||_2`` of each linear layer; the constants of the
activations and pooling). With it, the margin of a prediction certifies a radius: no perturbation of l2 norm
below ``margin / (sqrt(2) L)`` can change the predicted class (:func:`spectra.torch.certified_radius`).

We train a small CNN whose convolutions and linear layers are normalised by
:func:`spectra.torch.spectral_norm` on a synthetic two-class image problem, then certify it.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import spectra.torch as st

torch.set_num_threads(1)  # layers this small run fastest on one thread

torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)


def images(n):
    """Class 0: a horizontal bar, class 1: a vertical bar, at random positions, plus noise (1 x 12 x 12)."""
    y = torch.randint(0, 2, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 12, 12, generator=gen)
    pos = torch.randint(2, 10, (n,), generator=gen)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], 2:10] += 1.0
        else:
            x[i, 0, 2:10, pos[i]] += 1.0
    return x, y


net = nn.Sequential(
    st.spectral_norm(nn.Conv2d(1, 8, 3, padding=1), input_shape=(1, 12, 12)),
    nn.ReLU(),
    nn.MaxPool2d(2),
    st.spectral_norm(nn.Conv2d(8, 8, 3, padding=1), input_shape=(8, 6, 6)),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d((3, 3)),
    nn.Flatten(),
    st.spectral_norm(nn.Linear(72, 2)),
)
scale = 4.0  # a fixed output gain: the certificate multiplies it in
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
for _ in range(60):
    x, y = images(32)
    loss = nn.functional.cross_entropy(scale * net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()

net.eval()
model = nn.Sequential(net, nn.Flatten())  # the network as certified
bound = st.lipschitz_bound(model, (1, 12, 12), method="fft")
L = scale * bound.upper
print(bound.table())
print(f"certified Lipschitz constant of scale * net: {L:.4f} (confidence {bound.confidence})")

# %%
# Certified radii on fresh test images, and a check: the largest observed ratio
# ``||f(x) - f(x')|| / ||x - x'||`` over random nearby pairs stays below the certificate.
x, y = images(300)
with torch.no_grad():
    logits = scale * net(x)
    radius = st.certified_radius(logits, L, labels=y).numpy()
    x2 = x + 0.05 * torch.randn(x.shape, generator=gen)
    ratio = ((scale * net(x2) - logits).norm(dim=1) / (x2 - x).flatten(1).norm(dim=1)).max()
accuracy = float((logits.argmax(1) == y).float().mean())
print(f"test accuracy {accuracy:.3f}; empirical Lipschitz ratio {float(ratio):.4f} <= {L:.4f}")

grid = np.linspace(0, radius.max() * 1.05, 100)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(grid, [(radius > r).mean() for r in grid])
ax1.set_xlabel("l2 radius")
ax1.set_ylabel("certified accuracy")
ax1.set_title(f"clean accuracy {accuracy:.2f}, L = {L:.2f}")
names = [f"{b.name} {b.layer}" for b in bound.layers]
ax2.barh(names, [b.upper for b in bound.layers])
ax2.axvline(1.0, color="k", ls="--", lw=0.8)
ax2.set_xlabel("certified per-layer constant")
ax2.invert_yaxis()
fig.tight_layout()
plt.show()
