"""A drop-in `conv_general_dilated` for `nn.Conv` whose backward runs fast on XLA:CPU.

Hand-written because XLA:CPU (jax 0.10, YNNPACK convolutions) computes the
weight gradient of a convolution 2-5x slower than the forward pass, while a
plain matrix product `x^T @ g` runs at forward speed (docs/BENCHMARKS.md,
"Session 9"). Values are those of `lax.conv_general_dilated` up to float
rounding (`tests/models/test_fast_conv.py`); parameter names and shapes of the
modules are unchanged, since only the function `nn.Conv` calls is swapped:

  nn.Conv(..., conv_general_dilated=fast_conv.conv_general_dilated)

1x1 convolutions (ResNet bottlenecks: 2/3 of the convolutions) with zero
padding become matrix products on [B*H*W, C] (strided ones after slicing
every s-th pixel), with a custom VJP: dx = g @ W^T, dW = x^T @ g (the form
measured fastest; autodiff of the same einsum was 3x slower on some shapes).

k x k convolutions with LARGE outputs keep the lax forward and input
gradient but take the weight gradient in pieces, because XLA:CPU runs it as a
convolution whose window is the whole output (and whose feature dimension is
the batch), which falls off a cliff as either grows:

* Ho * Wo * Ci >= BANDS_MIN_ELEMENTS per image, on a single CPU device (the
  FPN's and the semantic FPN's 3x3 convolutions, the latter's stride-2 one,
  ResNet layer2-3 at 384x1248): per image and band of output rows (about
  BAND_PIXELS output pixels), one matrix product g_band^T [Co, P] @ patches
  [P, kh * kw * Ci] (the band's input windows side by side), summed in a
  loop so that one band's patches are alive at a time. Measured alone
  (docs/BENCHMARKS.md, "Session 17"): P2 at 384x1248 (2 x 96 x 312 x 256)
  0.20-0.22 s against 0.26-0.27 s for one lax weight gradient per band (sessions
  15-16), 0.17 s for oneDNN in PyTorch and 1.25 s for lax; 1 x 48 x 156 x
  256 27 against 34 ms; stride 2 from 1 x 96 x 312 x 256, 29 against 50 ms.
* otherwise, Ho * Wo * Ci >= TAPS_MIN_ELEMENTS per image (where bands are
  off): one matrix product per kernel tap, dW[i, j] = x_pad[:, i::s, j::s]^T
  @ g (first Ho x Wo samples) (stride 1, 2 x 96 x 312 x 256: 9.0 CPU s
  against 1.3 s by taps; stride 2 from 2 x 96 x 312 x 256: 0.88 vs 0.38 s).

Both are one custom VJP, `conv_split_weight_grad`, with the method as a
static argument. On smaller outputs (ResNet layer2-4 at 192x640) the lax
weight gradient is the faster one (1.04-1.25x), which is why session 9's
all-3x3 taps attempt gained nothing overall. Bands are not used with
several devices (slices of a batch-sharded array would move images between
devices) or off the CPU.

Everything else (grouped, dilated, other layouts, string padding) goes to
`lax.conv_general_dilated` unchanged.
"""
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                 out_spec=(0, 3, 1, 2))


def _is_nhwc_hwio(dimension_numbers) -> bool:
  if dimension_numbers is None:
    return False
  if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
    return tuple(map(tuple, dimension_numbers)) == tuple(map(tuple, _NHWC))
  return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def _flat(x):  # [B, H, W, C] -> [B*H*W, C]
  return x.reshape(-1, x.shape[-1])


def _matmul_1x1(x, kernel, stride: int):
  """-> (y [B, ceil(H/s), ceil(W/s), Co], the strided input it multiplied)."""
  xs = x[:, ::stride, ::stride] if stride > 1 else x
  return (_flat(xs) @ kernel).reshape(*xs.shape[:3], kernel.shape[-1]), xs


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv1x1(x, kernel, stride: int):
  """x [B, H, W, Ci], kernel [Ci, Co] -> [B, ceil(H/s), ceil(W/s), Co]."""
  return _matmul_1x1(x, kernel, stride)[0]


def _conv1x1_fwd(x, kernel, stride):
  y, xs = _matmul_1x1(x, kernel, stride)
  return y, (xs, kernel, x.shape)


def _conv1x1_bwd(stride, res, g):
  xs, kernel, x_shape = res
  g2 = _flat(g)
  d_kernel = _flat(xs).T @ g2                                   # [Ci, Co]
  dxs = (g2 @ kernel.T).reshape(xs.shape)                        # [B, Ho, Wo, Ci]
  if stride > 1:  # back onto every s-th pixel, zeros elsewhere
    zero = jnp.zeros((), dxs.dtype)
    dxs = lax.pad(dxs, zero, (
        (0, 0, 0),
        (0, x_shape[1] - ((xs.shape[1] - 1) * stride + 1), stride - 1),
        (0, x_shape[2] - ((xs.shape[2] - 1) * stride + 1), stride - 1),
        (0, 0, 0)))
  return dxs, d_kernel


conv1x1.defvjp(_conv1x1_fwd, _conv1x1_bwd)

# Per-image output elements times input channels (Ho * Wo * Ci) from which a
# k x k convolution takes its weight gradient in row bands (a single CPU
# device) or tap by tap (otherwise, from TAPS_MIN_ELEMENTS); module doc.
BANDS_MIN_ELEMENTS = 400_000
TAPS_MIN_ELEMENTS = 1_500_000
# Output pixels per band (640 to 5120 ran within 2 % of each other alone:
# docs/BENCHMARKS.md "Session 17"; the patches take 9 x 4 bytes per input
# channel and pixel, 11.5 MB for 1280 pixels of 256 channels), and the most
# bands per convolution (one per image beyond MAX_BANDS images).
BAND_PIXELS = 1280
MAX_BANDS = 64


def _lax_conv(x, kernel, strides, padding):
  return lax.conv_general_dilated(x, kernel, strides, padding,
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _row_bands(batch: int, ho: int, wo: int):
  """Output-row bands [(y0, y1)] of about BAND_PIXELS pixels, the same for every
  image; batch x bands <= MAX_BANDS unless that leaves one band per image."""
  n = min(-(-ho * wo // BAND_PIXELS), max(1, MAX_BANDS // batch), ho)
  rows = -(-ho // n)
  return [(y0, min(ho, y0 + rows)) for y0 in range(0, ho, rows)]


def _weight_grad_by_taps(xp, g, kernel, strides):
  """dW[i, j] = xp[:, i::s, j::s]^T @ g (first Ho x Wo samples), per tap."""
  kh, kw, ci, co = kernel.shape
  ho, wo = g.shape[1:3]
  sh, sw = strides
  g2 = _flat(g)
  d_kernel = jnp.stack([
      _flat(xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]).T @ g2
      for i in range(kh) for j in range(kw)])
  return d_kernel.reshape(kh, kw, ci, co)


def _weight_grad_by_bands(xp, g, kernel, strides):
  """Sum over images and bands of output rows of g_band^T [Co, P] @ the
  band's patches [P, kh * kw * Ci] (its input windows side by side), one band
  per loop step, so that one band's patches are alive at a time."""
  kh, kw, ci, co = kernel.shape
  sh, sw = strides
  batch, ho, wo = g.shape[:3]
  bands = _row_bands(batch, ho, wo)
  rows, num_bands = bands[0][1], len(bands)
  in_rows = sh * (rows - 1) + kh                 # input rows one band reads
  # Zero gradient rows past Ho make every band `rows` high; they add nothing.
  g_t = jnp.pad(jnp.transpose(g, (0, 3, 1, 2)), (
      (0, 0), (0, 0), (0, num_bands * rows - ho), (0, 0)))  # [B, Co, n*rows, Wo]
  xp = jnp.pad(xp, ((0, 0), (0, max(0, sh * (num_bands * rows - 1) + kh
                                    - xp.shape[1])), (0, 0), (0, 0)))

  def add_band(step, d_kernel):                  # d_kernel [Co, kh*kw*Ci]
    b, n = step // num_bands, step % num_bands
    band = lax.dynamic_slice(xp, (b, n * rows * sh, 0, 0),
                             (1, in_rows, xp.shape[2], ci))[0]
    patches = jnp.concatenate([
        band[i:i + sh * (rows - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
        for i in range(kh) for j in range(kw)], axis=-1)   # [rows, Wo, kh*kw*Ci]
    g_band = lax.dynamic_slice(g_t, (b, 0, n * rows, 0), (1, co, rows, wo))
    return d_kernel + (g_band.reshape(co, rows * wo)
                       @ patches.reshape(rows * wo, kh * kw * ci))

  d_kernel = lax.fori_loop(0, batch * num_bands, add_band,
                           jnp.zeros((co, kh * kw * ci), g.dtype))
  return jnp.transpose(d_kernel.reshape(co, kh, kw, ci), (1, 2, 3, 0))


_WEIGHT_GRADS = {"taps": _weight_grad_by_taps, "bands": _weight_grad_by_bands}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_split_weight_grad(x, kernel, strides, padding, method: str):
  """x [B, H, W, Ci] (*) kernel [kh, kw, Ci, Co], explicit padding: the lax
  value and input gradient, the weight gradient by `method` ('taps' or
  'bands', module doc)."""
  return _lax_conv(x, kernel, strides, padding)


def _split_fwd(x, kernel, strides, padding, method):
  return _lax_conv(x, kernel, strides, padding), (x, kernel)


def _split_bwd(strides, padding, method, res, g):
  x, kernel = res
  _, input_vjp = jax.vjp(lambda x: _lax_conv(x, kernel, strides, padding), x)
  (dx,) = input_vjp(g)
  xp = jnp.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
  return dx, _WEIGHT_GRADS[method](xp, g, kernel, strides)


conv_split_weight_grad.defvjp(_split_fwd, _split_bwd)


def _bands_allowed() -> bool:
  """Weight gradient by row bands: a single CPU device only (module doc)."""
  return jax.default_backend() == "cpu" and jax.device_count() == 1


def conv_general_dilated(lhs, rhs, window_strides: Sequence[int], padding,
                         lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                         feature_group_count: int = 1, batch_group_count: int = 1,
                         precision=None, preferred_element_type=None):
  """`lax.conv_general_dilated` with the fast paths above (same arguments)."""
  plain = functools.partial(
      lax.conv_general_dilated, lhs, rhs, window_strides, padding,
      lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
      batch_group_count=batch_group_count, precision=precision,
      preferred_element_type=preferred_element_type)
  ones = (1,) * (lhs.ndim - 2)
  if (lhs.ndim != 4 or not _is_nhwc_hwio(dimension_numbers) or isinstance(padding, str)
      or feature_group_count != 1 or batch_group_count != 1
      or tuple(lhs_dilation or ones) != ones or preferred_element_type is not None
      or precision is not None):
    return plain()
  strides = tuple(int(s) for s in window_strides)
  padding = tuple(tuple(int(p) for p in pair) for pair in padding)
  if rhs.shape[:2] == (1, 1) and padding == ((0, 0), (0, 0)) and strides[0] == strides[1]:
    return conv1x1(lhs, rhs[0, 0], strides[0])
  if not all(isinstance(d, int) for d in lhs.shape):
    return plain()   # Symbolic sizes (shape-polymorphic export): no size rule.
  out_hw = [(lhs.shape[1 + a] + sum(padding[a]) - rhs.shape[a]) // strides[a] + 1
            for a in (0, 1)]
  if (tuple(rhs_dilation or ones) != ones or min(out_hw) <= 0
      or any(p < 0 for pair in padding for p in pair)):
    return plain()
  per_image = out_hw[0] * out_hw[1] * lhs.shape[3]
  if per_image >= BANDS_MIN_ELEMENTS and _bands_allowed():
    return conv_split_weight_grad(lhs, rhs, strides, padding, "bands")
  if per_image >= TAPS_MIN_ELEMENTS:
    return conv_split_weight_grad(lhs, rhs, strides, padding, "taps")
  return plain()

