"""2-D convolution as im2col + one matmul, forward and backward, for NumPy and CuPy alike.

Activations are channels-last, ``(N, H, W, C)``, so the matmul's output is already the next
layer's layout; weights are PyTorch's ``(out_channels, in_channels, k, k)``. The windows are a
strided view of the padded input (``as_strided``, which NumPy and CuPy share), copied once into
the column matrix ``(N*Ho*Wo, k*k*C)``; channels innermost keeps that copy in contiguous runs
(2.5x faster than PyTorch's (C, k, k) column order here), so the weight is matched to it by a
small transpose per call. Backward scatters the column gradient back with one strided add per
kernel offset (k*k slices, never a loop over pixels).
"""
from __future__ import annotations


def output_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _pad(xp, x, padding):
    if padding == 0:
        return xp.ascontiguousarray(x)
    return xp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def im2col(xp, x, k: int, stride: int, padding: int):
    """Columns ``(N*Ho*Wo, k*k*C)`` of the (padded) NHWC input, ordered (ki, kj, C)."""
    xpad = _pad(xp, x, padding)
    n, hp, wp, c = xpad.shape
    ho, wo = (hp - k) // stride + 1, (wp - k) // stride + 1
    sn, sh, sw, sc = xpad.strides
    windows = xp.lib.stride_tricks.as_strided(
        xpad, shape=(n, ho, wo, k, k, c), strides=(sn, sh * stride, sw * stride, sh, sw, sc))
    return windows.reshape(n * ho * wo, k * k * c), (n, ho, wo)


def _matrix(xp, weight):
    """(O, C, k, k) -> (O, k*k*C), the column order of ``im2col``."""
    o = weight.shape[0]
    return xp.ascontiguousarray(weight.transpose(0, 2, 3, 1)).reshape(o, -1)


def conv_forward(xp, x, weight, bias, stride: int, padding: int):
    """``x`` (N, H, W, C), ``weight`` (O, C, k, k), ``bias`` (O,) -> output (N, Ho, Wo, O) and the
    columns backward needs."""
    o, c, k, _ = weight.shape
    cols, (n, ho, wo) = im2col(xp, x, k, stride, padding)
    out = xp.dot(cols, _matrix(xp, weight).T)
    out += bias
    return out.reshape(n, ho, wo, o), cols


def conv_backward(xp, g, cols, weight, input_shape, stride: int, padding: int, dweight, dbias, ones,
                  need_input_grad: bool = True):
    """From dL/d(output) ``g`` (N, Ho, Wo, O): fill ``dweight`` (O, C, k, k) and ``dbias`` (O,) in
    place and return dL/d(input) (N, H, W, C) (None when not needed, for the first layer)."""
    o, c, k, _ = weight.shape
    n, ho, wo, _ = g.shape
    g2 = xp.ascontiguousarray(g).reshape(n * ho * wo, o)   # BLAS needs plain strides
    dmatrix = xp.dot(g2.T, cols)
    dweight[...] = dmatrix.reshape(o, k, k, c).transpose(0, 3, 1, 2)
    xp.dot(ones, g2, out=dbias.reshape(1, o))
    if not need_input_grad:
        return None
    dcols = xp.dot(g2, _matrix(xp, weight)).reshape(n, ho, wo, k, k, c)
    _, h, w, _ = input_shape
    dpad = xp.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=g.dtype)
    span_h, span_w = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for i in range(k):
        for j in range(k):
            dpad[:, i:i + span_h:stride, j:j + span_w:stride, :] += dcols[:, :, :, i, j, :]
    if padding:
        return dpad[:, padding:padding + h, padding:padding + w, :]
    return dpad
