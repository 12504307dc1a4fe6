"""The whole Video K-Net training loss for a key + reference clip.

Both frames get the full segmentation losses (reference section 4.1; the
reference frame's metrics carry the suffix `_ref`, equal weight), plus the
quasi-dense tracking losses between them (section 4.2).

Ablation switches (config.loss): `key_frame_only` drops the reference's
segmentation losses (`knet_quansi_dense_embed_fc.py`: the reference only runs
forward; no `*_ref` entry exists then); `association_sampling='qdtrack'`
pairs the proposals sampled by overlap (`qdtrack_sampling`) instead of the
Hungarian-matched ones. Mask-based embeddings (config.model.temporal.embedding)
come as MASK_TRACK_EMBEDDINGS of the GT masks; each matched proposal takes the
embedding of its GT's mask, as the original's `pos_gt_masks`.
"""
from typing import Any, Dict, Sequence, Tuple

import jax

import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax.losses import qdtrack_sampling
from video_knet_jax.losses import segmentation_loss
from video_knet_jax.losses import tracking_loss

SAMPLINGS = ("gt", "qdtrack")

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
    frame, the same with suffix '_ref' (absent with config.loss.key_frame_only),
    'loss_track', 'loss_track_aux' and common.LOSS_TOTAL; loss = sum of all metrics whose name contains 'loss'
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
  sampling = lc.get("association_sampling", "gt")
  if sampling not in SAMPLINGS:
    raise ValueError(f"config.loss.association_sampling={sampling!r}; expected one of "
                     f"{SAMPLINGS}.")
  key_t, ref_t = frame_targets(batch, 0), frame_targets(batch, 1)
  key_out, ref_out = frame_outputs
  key_total, key_metrics, key_assign = segmentation_loss.frame_losses(
      key_out, key_t, config)
  if lc.get("key_frame_only", False):
    ref_total, ref_metrics = 0.0, {}
    ref_assign = segmentation_loss.track_assignment(ref_out, ref_t, config)
  else:
    ref_total, ref_metrics, ref_assign = segmentation_loss.frame_losses(
        ref_out, ref_t, config)

  key_to_gt, ref_to_gt, ref_negatives = key_assign.pred_to_gt, ref_assign.pred_to_gt, None
  if sampling == "qdtrack":
    if common.TRACK_EMBEDDINGS not in key_out:
      raise ValueError("config.loss.association_sampling='qdtrack' samples proposals, "
                       "so it needs config.model.temporal.embedding='kernels'.")
    key_to_gt = qdtrack_sampling.frame_sample(key_out, key_t, config).pred_to_gt
    ref_to_gt, ref_negatives = qdtrack_sampling.frame_sample(ref_out, ref_t, config)
  track, track_aux = tracking_loss.tracking_losses(
      proposal_embeddings(key_out, key_to_gt), proposal_embeddings(ref_out, ref_to_gt),
      key_to_gt, ref_to_gt, key_t[common.THING_IDS], ref_t[common.THING_IDS],
      pos_margin=lc.track_aux_pos_margin, neg_margin=lc.track_aux_neg_margin,
      neg_pos_ub=lc.track_aux_neg_pos_ub, ref_negatives=ref_negatives)

  metrics = dict(key_metrics)
  metrics.update({f"{k}_ref": v for k, v in ref_metrics.items()})
  metrics["loss_track"] = lc.track * track
  metrics["loss_track_aux"] = lc.track_aux * track_aux
  total = key_total + ref_total + metrics["loss_track"] + metrics[
      "loss_track_aux"]
  metrics[common.LOSS_TOTAL] = total
  return total, metrics


def proposal_embeddings(outputs: Dict[str, jax.Array], pred_to_gt: jax.Array) -> jax.Array:
  """[B, P, E] association embedding of each thing proposal of a frame.

  The kernel embedding's TRACK_EMBEDDINGS as they are; with a mask-based
  embedding, the MASK_TRACK_EMBEDDINGS of the GT that `pred_to_gt` [B, P]
  matched (rows of unmatched proposals are arbitrary: the losses mask them).
  """
  if common.MASK_TRACK_EMBEDDINGS not in outputs:
    if common.TRACK_EMBEDDINGS not in outputs:
      raise KeyError("video_knet_loss: the outputs hold no track embeddings; a mask-based "
                     "config.model.temporal.embedding needs clip_forward(thing_masks=...).")
    return outputs[common.TRACK_EMBEDDINGS]
  emb = outputs[common.MASK_TRACK_EMBEDDINGS]
  gt = jnp.maximum(pred_to_gt, 0)
  if emb.ndim == 3:                                    # [B, M, E] per GT mask.
    return jnp.take_along_axis(emb, gt[..., None], axis=1)
  return jnp.take_along_axis(emb, gt[:, :, None, None], axis=2)[:, :, 0]   # [B, P, M, E].
