"""The whole Video K-Net training loss for a key + reference clip.

Both frames get the full segmentation losses (reference section 4.1; the
reference frame's metrics carry the suffix `_ref`, equal weight), plus the
quasi-dense tracking losses between them (section 4.2).
"""
from typing import Any, Dict, Sequence, Tuple

import jax

from video_knet_jax import common
from video_knet_jax.losses import segmentation_loss
from video_knet_jax.losses import tracking_loss

# Batch keys with a T axis that `frame_targets` slices.
_FRAME_KEYS = (common.THING_MASKS, common.THING_CLASSES, common.THING_IDS,
               common.THING_VALID, common.STUFF_MASKS, common.STUFF_VALID,
               common.SEMANTIC, common.VOID_MASK, common.PADDING_MASK)


def frame_targets(batch: Dict[str, Any], t: int) -> Dict[str, Any]:
  """The batch's GT at frame t (drops the T axis of every per-frame key)."""
  return {k: batch[k][:, t] for k in _FRAME_KEYS if k in batch}


def video_knet_loss(frame_outputs: Sequence[Dict[str, jax.Array]],
                    batch: Dict[str, Any],
                    config) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """Total training loss of a clip and its named, weighted parts.

  Args:
    frame_outputs: [key outputs, ref outputs] (T index 0 and 1), each the
      model's dict for that frame (`common` output keys, incl.
      TRACK_EMBEDDINGS [B, P, E]).
    batch: training batch with T = 2 (`common` batch keys).
    config: full config (`config.loss`, `config.model`).

  Returns:
    (loss, metrics): metrics hold every part of `frame_losses` for the key
    frame, the same with suffix '_ref', 'loss_track', 'loss_track_aux' and
    common.LOSS_TOTAL; loss = sum of all metrics whose name contains 'loss'
    except the total itself.
  """
  num_frames = batch[common.THING_MASKS].shape[1]
  if len(frame_outputs) != 2 or num_frames != 2:
    raise ValueError(
        "video_knet_loss: expects exactly a key and one reference frame, got "
        f"{len(frame_outputs)} outputs and T={num_frames} in the batch "
        "(config.data.num_refs must be 1).")
  if common.THING_IDS not in batch:
    raise KeyError(f"video_knet_loss: batch lacks {common.THING_IDS!r}.")
  lc = config.loss
  key_t, ref_t = frame_targets(batch, 0), frame_targets(batch, 1)
  key_out, ref_out = frame_outputs
  key_total, key_metrics, key_assign = segmentation_loss.frame_losses(
      key_out, key_t, config)
  ref_total, ref_metrics, ref_assign = segmentation_loss.frame_losses(
      ref_out, ref_t, config)

  track, track_aux = tracking_loss.tracking_losses(
      key_out[common.TRACK_EMBEDDINGS], ref_out[common.TRACK_EMBEDDINGS],
      key_assign.pred_to_gt, ref_assign.pred_to_gt,
      key_t[common.THING_IDS], ref_t[common.THING_IDS],
      pos_margin=lc.track_aux_pos_margin, neg_margin=lc.track_aux_neg_margin,
      neg_pos_ub=lc.track_aux_neg_pos_ub)

  metrics = dict(key_metrics)
  metrics.update({f"{k}_ref": v for k, v in ref_metrics.items()})
  metrics["loss_track"] = lc.track * track
  metrics["loss_track_aux"] = lc.track_aux * track_aux
  total = key_total + ref_total + metrics["loss_track"] + metrics[
      "loss_track_aux"]
  metrics[common.LOSS_TOTAL] = total
  return total, metrics
