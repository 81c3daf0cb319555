"""Residual blocks: identity skips ``h <- h + F(h)`` around ``residual_every`` layers.

The first hidden layer (the first conv layer of a CNN) maps the input to the network's width and
has no skip; after it the layers are grouped into blocks of ``residual_every``. A block gets its
skip only where the identity fits: every layer in it has the width of the block's input (for a
conv block also stride 1, "same" padding and no pooling inside). The network adds the block's
input to the output of its last layer; backward sends the gradient down both paths.
"""
from __future__ import annotations


def _pooled_after(config, layer: int) -> bool:
    return config.pool != "none" and (layer + 1) % config.pool_every == 0


def residual_blocks(config) -> list[tuple[int, int, bool]]:
    """(first, stop, has_skip) per full block of hidden layers (conv layers for a CNN)."""
    k = config.residual_every
    if config.arch == "cnn":
        sizes = config.channels
        same = config.stride == 1 and 2 * config.padding == config.kernel_size - 1
    else:
        sizes = config.widths
        same = True
    blocks = []
    for first in range(1, len(sizes) - k + 1, k):
        stop = first + k
        ok = same and all(sizes[i] == sizes[first - 1] for i in range(first, stop))
        if config.arch == "cnn":
            ok = ok and not any(_pooled_after(config, i) for i in range(first, stop - 1))
        blocks.append((first, stop, ok))
    return blocks


def residual_notes(config) -> list[str]:
    """Why blocks have no skip, and which layers are outside every block, in words."""
    kind = "conv layers" if config.arch == "cnn" else "hidden layers"
    sizes = config.channels if config.arch == "cnn" else config.widths
    unit = "channels" if config.arch == "cnn" else "width"
    notes = []
    blocks = residual_blocks(config)
    for first, stop, ok in blocks:
        if ok:
            continue
        span = f"{kind} {first + 1}-{stop}"
        if config.arch == "cnn" and config.stride != 1:
            why = f"stride {config.stride} changes the size"
        elif config.arch == "cnn" and 2 * config.padding != config.kernel_size - 1:
            why = f"padding {config.padding} with kernel {config.kernel_size} changes the size"
        elif any(sizes[i] != sizes[first - 1] for i in range(first, stop)):
            why = f"{unit} differ ({', '.join(str(sizes[i]) for i in range(first - 1, stop))})"
        else:
            why = "pooling inside the block changes the size"
        notes.append(f"{span}: no skip, {why}")
    covered = blocks[-1][1] if blocks else 1
    if covered < len(sizes):
        notes.append(f"{kind} {covered + 1}-{len(sizes)} are outside a full block of "
                     f"{config.residual_every}: no skip")
    return notes


def skip_sources(config) -> dict[int, int]:
    """{last layer of a block: first layer of that block} for the blocks with a skip."""
    return {stop - 1: first for first, stop, ok in residual_blocks(config) if ok} if config.residual else {}
