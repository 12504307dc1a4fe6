"""A made-up label space flows through targets -> loss -> merge -> metrics.

7 classes, things 5, 1, 3 in that (non-contiguous, non-increasing) model
order, void 200, label divisor 100: nothing on the way may assume KITTI-STEP's
19 classes, things {11, 13}, void 255 or divisor 1000. A perfect prediction
built from the targets must lose less than the same masks with the thing
classes rotated, merge back to the ground-truth map, and score 1.0.
"""
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax import common
from video_knet_jax.tasks import panoptic_eval
from video_knet_jax.data import panoptic_clips
from video_knet_jax.data import targets as targets_lib
from video_knet_jax.evaluation import segment_counts
from video_knet_jax.inference import panoptic_merge
from video_knet_jax.losses import segmentation_loss

FACTS = dataset_facts.DatasetFacts(
    name="made_up_7", class_names=tuple("abcdefg"), thing_ids=(5, 1, 3),
    void_label=200, label_divisor=100,
    colors=tuple((30 * i, 255 - 30 * i, 7 * i) for i in range(7)))
H, W, BLOCK = 48, 64, 8     # regions are 8x8 blocks: exact at stride 8.
LOGIT = 10.0


def _config():
  path = pathlib.Path(__file__).resolve().parents[1] / "configs" / "synthetic_step.py"
  spec = importlib.util.spec_from_file_location("synthetic_step_cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("debug")
  config.data.name = FACTS.name
  config.data.num_classes = FACTS.num_classes
  config.data.thing_train_ids = FACTS.thing_ids
  config.data.ignore_label = FACTS.void_label
  config.data.max_instances = 4
  config.model.num_thing_classes = FACTS.num_things
  config.model.num_stuff_classes = FACTS.num_stuff
  config.model.num_proposals = 5
  config.model.kernel_head.feat_downsample_stride = 4   # logits at stride 8,
  config.model.update_head.mask_upsample_stride = 4     # targets at stride 2.
  config.loss.mask_assign_stride = 2
  return config


@pytest.fixture(scope="module")
def config():
  dataset_facts.register(FACTS.name, FACTS)
  yield _config()
  dataset_facts._REGISTRY.pop(FACTS.name)   # pylint: disable=protected-access


def _ground_truth():
  """[H, W] semantic and instance maps in blocks: stuff 0, 2, 4, 6 as a
  background, things 5 (two instances), 1 and 3."""
  blocks = np.array([[0, 0, 2, 2, 4, 4, 6, 6],
                     [0, 5, 5, 2, 4, 1, 1, 6],
                     [0, 5, 5, 2, 4, 1, 1, 6],
                     [0, 0, 2, 3, 3, 4, 6, 6],
                     [0, 5, 2, 3, 3, 4, 6, 6],
                     [0, 0, 2, 2, 4, 4, 6, 6]])
  instance_blocks = np.zeros_like(blocks)
  instance_blocks[1:3, 1:3] = 1    # first 5.
  instance_blocks[4, 1] = 2        # second 5.
  instance_blocks[1:3, 5:7] = 4    # the 1.
  instance_blocks[3:5, 3:5] = 7    # the 3.
  up = lambda b: np.kron(b, np.ones((BLOCK, BLOCK), np.int64)).astype(np.int32)
  return up(blocks), up(instance_blocks)


def _outputs(tg, config, rotate_things=False):
  """Stride-8 logits that reproduce the targets [1 frame, B=1]."""
  m = config.model
  p, nt, ns = m.num_proposals, m.num_thing_classes, m.num_stuff_classes
  nc = nt + ns
  down = lambda x: x[..., BLOCK // 2::BLOCK, BLOCK // 2::BLOCK]
  thing = down(tg[common.THING_MASKS].astype(np.float32))       # [M, h, w]
  stuff = down(tg[common.STUFF_MASKS].astype(np.float32))       # [S, h, w]
  masks = np.full((p + ns,) + stuff.shape[1:], -LOGIT, np.float32)
  cls = np.full((p + ns, nc), -LOGIT, np.float32)
  for i in np.nonzero(tg[common.THING_VALID])[0]:
    masks[i] = np.where(thing[i] > 0, LOGIT, -LOGIT)
    label = int(tg[common.THING_CLASSES][i])
    cls[i, (label + 1) % nt if rotate_things else label] = LOGIT
  for s in range(ns):
    masks[p + s] = np.where(stuff[s] > 0, LOGIT, -LOGIT)
    cls[p + s, nt + s] = LOGIT
  seg = np.concatenate([np.full((nt,) + masks.shape[1:], -LOGIT, np.float32),
                        masks[p:]])                              # [C, h, w]
  for i in np.nonzero(tg[common.THING_VALID])[0]:
    label = int(tg[common.THING_CLASSES][i])
    seg[label] = np.maximum(seg[label], masks[i])
  stages = m.num_stages
  return {
      common.RPN_MASK_LOGITS: jnp.asarray(masks[None, :p]),
      common.RPN_SEG_LOGITS: jnp.asarray(seg[None]),
      common.STAGE_MASK_LOGITS: jnp.asarray(np.stack([masks[None]] * stages)),
      common.STAGE_CLS_LOGITS: jnp.asarray(np.stack([cls[None]] * stages)),
  }


def test_made_up_label_space_end_to_end(config):
  semantic, instance = _ground_truth()
  tg = targets_lib.frame_targets(tf.constant(semantic), tf.constant(instance),
                                 panoptic_clips.target_params(config))
  tg = {k: v.numpy() for k, v in tg.items()}

  # Targets: model class = position in thing_ids; ids use the divisor 100.
  valid = tg[common.THING_VALID]
  ids = tg[common.THING_IDS][valid]
  assert sorted(ids.tolist()) == [104, 307, 501, 502]
  model_class = {104: 1, 307: 2, 501: 0, 502: 0}
  assert [int(c) for c in tg[common.THING_CLASSES][valid]] == [
      model_class[int(i)] for i in ids]
  for s, stuff_id in enumerate(FACTS.stuff_ids):                 # 0, 2, 4, 6.
    np.testing.assert_array_equal(tg[common.STUFF_MASKS][s], semantic == stuff_id)
  assert not tg[common.VOID_MASK].any()

  # Loss: the perfect prediction beats the same masks with wrong classes.
  batch = {k: jnp.asarray(v[None]) for k, v in tg.items()}
  losses = jax.jit(lambda outputs, batch: segmentation_loss.frame_losses(
      outputs, batch, config)[:2])
  good, good_metrics = losses(_outputs(tg, config), batch)
  bad, bad_metrics = losses(_outputs(tg, config, rotate_things=True), batch)
  last = config.model.num_stages - 1
  assert float(good_metrics[f"s{last}_loss_cls"]) < 0.01
  assert float(bad_metrics[f"s{last}_loss_cls"]) > 10 * float(
      good_metrics[f"s{last}_loss_cls"])
  assert float(good) < float(bad)

  # Merge: settings from the config's facts map model classes back to ids;
  # pixels outside the image are the facts' void label.
  settings = panoptic_merge.merge_settings_from_config(config)
  assert settings.train_ids == (5, 1, 3, 0, 2, 4, 6)
  out = _outputs(tg, config)
  padded = (H + 2 * BLOCK, W)
  merge = jax.jit(panoptic_merge.panoptic_merge,
                  static_argnames=("padded_hw", "settings"))
  result = merge(
      jnp.pad(out[common.STAGE_MASK_LOGITS][-1, 0], ((0, 0), (0, 2), (0, 0)),
              constant_values=-LOGIT),
      out[common.STAGE_CLS_LOGITS][-1, 0], jnp.array([H, W]), padded_hw=padded,
      settings=settings)
  pred_sem = np.asarray(result.semantic)
  assert (pred_sem[H:] == FACTS.void_label).all()
  pred_sem = pred_sem[:H]
  centres = (slice(BLOCK // 2, None, BLOCK),) * 2
  np.testing.assert_array_equal(pred_sem[centres], semantic[centres])
  seg = np.asarray(result.segment_map)[:H]
  is_thing = np.isin(pred_sem, FACTS.thing_ids)
  pred_ids = np.where(is_thing, seg + 1, 0)

  # Metrics built from the facts score the merged frame as perfect.
  stq, vpq = panoptic_eval.make_metrics(FACTS)
  divisor = panoptic_eval.LABEL_DIVISOR
  gt = semantic.astype(np.int64) * divisor + np.where(
      np.isin(semantic, FACTS.thing_ids), instance, 0)
  pred = pred_sem.astype(np.int64) * divisor + pred_ids
  counts = segment_counts.count_pairs(gt[centres], pred[centres])
  for _ in range(max(panoptic_eval.VPQ_WINDOWS)):   # a still video.
    stq.update_counts(counts, 0)
    vpq.update_counts(counts, 0)
  vpq.end_sequence(0)
  assert stq.result()["STQ"] == pytest.approx(1.0)
  assert vpq.result()["VPQ"] == pytest.approx(1.0)
