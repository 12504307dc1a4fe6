"""Classification losses: sigmoid focal (element-wise weights), softmax CE.

`softmax_cross_entropy` reproduces mmdet's CrossEntropyLoss with
`ignore_index` and 'mean' reduction: ignored pixels contribute 0 to the sum
but still count in the denominator (reference section 10.2 item 16).
"""
import jax
import jax.numpy as jnp


def sigmoid_focal_loss(logits: jax.Array, targets: jax.Array,
                       weights: jax.Array, *, alpha: float,
                       gamma: float) -> jax.Array:
  """Element-wise weighted sigmoid focal loss (mmdet `sigmoid_focal_loss`).

  Args:
    logits: [..., C] class logits.
    targets: [..., C] {0, 1} one-hot targets (all zero = background).
    weights: broadcastable to [..., C]; element-wise loss weights.
    alpha, gamma: focal parameters.

  Returns:
    [..., C] weighted loss; the caller sums and divides by its avg_factor.
  """
  x = logits.astype(jnp.float32)
  t = targets.astype(jnp.float32)
  p = jax.nn.sigmoid(x)
  pt = (1 - p) * t + p * (1 - t)
  focal_weight = (alpha * t + (1 - alpha) * (1 - t)) * pt**gamma
  bce = jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))
  return bce * focal_weight * weights


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array,
                          ignore_index: int, axis: int = 1) -> jax.Array:
  """Per-element softmax CE; 0 where `labels == ignore_index`.

  Args:
    logits: e.g. [B, C, H, W] (class axis `axis`).
    labels: logits' shape without `axis`, int.
    ignore_index: label value that is ignored.
    axis: the class axis of `logits`.

  Returns:
    Loss with the shape of `labels`.
  """
  x = logits.astype(jnp.float32)
  axis = axis % x.ndim
  num_classes = x.shape[axis]
  valid = labels != ignore_index
  safe = jnp.clip(jnp.where(valid, labels, 0), 0, num_classes - 1)
  # -log_softmax(x)[label] = logsumexp(x) - x[label]. Taking the label's logit
  # from x rather than from a log_softmax array keeps the backward pass from
  # scattering into and summing over a [.., C, ..] array (2x faster on the
  # rank loss's 100 classes at full size, the same numbers).
  peak = jax.lax.stop_gradient(_max_over_axis(x, axis))
  total = _sum_over_axis(jnp.exp(x - jnp.expand_dims(peak, axis)), axis)
  lse = jnp.log(total) + peak
  picked = jnp.take_along_axis(x, jnp.expand_dims(safe, axis), axis=axis)
  return jnp.where(valid, lse - jnp.squeeze(picked, axis), 0.0)


def _leading_axis_by_hand() -> bool:
  """Reductions over a leading class axis by hand: XLA:CPU only (below)."""
  return jax.default_backend() == "cpu"


def _max_over_axis(x: jax.Array, axis: int) -> jax.Array:
  """jnp.max(x, axis); a class axis before the last by a loop over classes.

  XLA:CPU (jax 0.10) hands a reduction over a leading axis to YNNPACK, which
  reads it at ~1 GB/s: 34 ms for the rank loss's [1, 100, 192, 624] logits.
  A loop of element-wise maximums reads each class's plane once (a chain of
  maximums written out would be fused into every element of its consumer,
  C times the work).
  """
  if axis == x.ndim - 1 or not _leading_axis_by_hand():
    return jnp.max(x, axis=axis)
  first = jax.lax.index_in_dim(x, 0, axis, keepdims=False)
  return jax.lax.fori_loop(
      1, x.shape[axis],
      lambda i, peak: jnp.maximum(
          peak, jax.lax.dynamic_index_in_dim(x, i, axis, keepdims=False)),
      first)


def _sum_over_axis(x: jax.Array, axis: int) -> jax.Array:
  """jnp.sum(x, axis); a class axis before the last as a product with ones.

  For the same reason as `_max_over_axis`: the rank loss on [1, 100, 192, 624]
  logits takes 9 ms forward and backward with a vector-matrix product against
  58 ms with reduces (docs/BENCHMARKS.md, "Session 17"). HIGHEST: exact
  products with ones wherever XLA would round f32 operands down.
  """
  if axis == x.ndim - 1 or not _leading_axis_by_hand():
    return jnp.sum(x, axis=axis)
  ones = jnp.ones((x.shape[axis],), x.dtype)   # on the left: x keeps its layout.
  return jax.lax.dot_general(ones, x, (((0,), (axis,)), ((), ())),
                             precision=jax.lax.Precision.HIGHEST)


def mean_cross_entropy(logits: jax.Array, labels: jax.Array,
                       ignore_index: int, axis: int = 1) -> jax.Array:
  """mmdet 'mean' CE: sum over non-ignored / number of ALL elements."""
  return jnp.mean(softmax_cross_entropy(logits, labels, ignore_index, axis))


def accuracy(logits: jax.Array, labels: jax.Array,
             positive: jax.Array) -> jax.Array:
  """Top-1 accuracy in percent over positive rows ([..., C], [...], [...])."""
  correct = (jnp.argmax(logits, axis=-1) == labels) & positive
  num = jnp.sum(positive)
  return jnp.where(num > 0, 100.0 * jnp.sum(correct) / jnp.maximum(num, 1),
                   0.0)
