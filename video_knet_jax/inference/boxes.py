"""Boxes of panoptic segments for the tracker (original section 5, step 5).

The original takes each kept thing segment's binary mask, multiplies it by a
"semantic filter" (pixel is a thing if the argmax over the sigmoid of the rpn
semantic logits is a thing class), and boxes the nonzero pixels as inclusive
(x1, y1, x2, y2); an empty mask gets the placeholder box (-1, -1, 10, 10).
Unlike the original (reference 10.3 item 19) the semantic logits are resized
to the padded input size, so they stay aligned with the image pixels; the
padding is void in the segment map and never boxed.
"""
import jax
import jax.numpy as jnp

from video_knet_jax.inference import dense_ops

EMPTY_BOX = (-1.0, -1.0, 10.0, 10.0)  # the original's box for an empty mask.


def semantic_thing_filter(seg_logits: jax.Array, padded_hw, num_thing_classes: int) -> jax.Array:
  """[C, h, w] rpn semantic logits -> [H, W] bool, True where a thing class wins.

  The sigmoid is kept (not a no-op for the argmax: saturated values tie and the
  lowest class index wins, as in the original).
  """
  rows, cols = dense_ops.phase_factors(seg_logits.shape[1:], padded_hw)

  def one(logits):  # [h, w] -> sigmoid of its bilinear resize, as phase planes
    planes = dense_ops.resize_planes(logits.astype(jnp.float32), padded_hw)
    return [jax.nn.sigmoid(p) for p in planes], None

  planes = dense_ops.argmax_first_streamed(one, seg_logits)[0]
  winner = dense_ops.interleave_phases(dense_ops.stack_planes(planes, rows, cols))
  return winner < num_thing_classes


def segment_boxes(segment_map: jax.Array, num_segments: int,
                  pixel_filter: jax.Array = None) -> jax.Array:
  """Inclusive (x1, y1, x2, y2) box of every segment index of a map.

  Args:
    segment_map: [H, W] int32, values in [0, num_segments) or negative (void).
    num_segments: static S.
    pixel_filter: optional [H, W] bool; only pixels where it is True count.

  Returns:
    [S, 4] float32 boxes; segments without pixels get `EMPTY_BOX`.
  """
  height, width = segment_map.shape
  use = segment_map >= 0
  if pixel_filter is not None:
    use &= pixel_filter
  seg = jnp.where(use, segment_map, num_segments).reshape(-1)  # dump slot S.
  ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.int32),
                        jnp.arange(width, dtype=jnp.int32), indexing="ij")
  xs, ys = xs.reshape(-1), ys.reshape(-1)
  n = num_segments + 1
  x1 = jax.ops.segment_min(xs, seg, num_segments=n)[:-1]
  y1 = jax.ops.segment_min(ys, seg, num_segments=n)[:-1]
  x2 = jax.ops.segment_max(xs, seg, num_segments=n)[:-1]
  y2 = jax.ops.segment_max(ys, seg, num_segments=n)[:-1]
  count = jax.ops.segment_sum(jnp.ones_like(xs), seg, num_segments=n)[:-1]
  boxes = jnp.stack([x1, y1, x2, y2], axis=-1).astype(jnp.float32)
  return jnp.where((count > 0)[:, None], boxes, jnp.asarray(EMPTY_BOX, jnp.float32))


def box_iou(boxes_a: jax.Array, boxes_b: jax.Array) -> jax.Array:
  """[K, 4] x [M, 4] -> [K, M] IoU, mmdet `bbox_overlaps` convention (no +1, eps 1e-6)."""
  area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
  area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
  lt = jnp.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
  rb = jnp.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
  wh = jnp.clip(rb - lt, 0.0)
  inter = wh[..., 0] * wh[..., 1]
  union = jnp.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)
  return inter / union
