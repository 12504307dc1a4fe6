"""The VIPSeg submission folder that the online evaluation writes scores, with
VIPSeg's own rules (score_folders --dataset=vipseg), exactly as the online
evaluation scored the same predictions. A fake predictor (the ground truth
with class errors, an id switch and void) stands in for the model."""
import os

import numpy as np
import pytest


from video_knet_jax import common  # pylint: disable=wrong-import-position
from video_knet_jax.configs import vipseg  # pylint: disable=wrong-import-position
from video_knet_jax.data import prepare  # pylint: disable=wrong-import-position
from video_knet_jax.datasets import registry  # pylint: disable=wrong-import-position
from video_knet_jax.datasets.vipseg import facts  # pylint: disable=wrong-import-position
from video_knet_jax.evaluation import score_folders  # pylint: disable=wrong-import-position
from video_knet_jax.inference import predictor as predictor_lib  # pylint: disable=wrong-import-position
from video_knet_jax.tasks import panoptic_eval  # pylint: disable=wrong-import-position


class _NoisyGroundTruth:
  """VideoPredictor's evaluation interface returning the ground truth with
  errors: one stuff class relabelled in a block, void pixels, and from frame 4
  on every thing's track id changed (an id switch)."""

  def __init__(self, model, variables, config, association="embedding"):
    del model, variables, association
    self.divisor = facts.VIPSEG.label_divisor
    self.rng = np.random.default_rng(0)

  def predict_eval_sequence(self, frames):
    for frame in frames:
      gt = np.asarray(frame[common.PANOPTIC]).astype(np.int64)
      semantic, ids = gt // self.divisor, gt % self.divisor
      semantic = semantic.copy()
      h, w = semantic.shape
      block = semantic[: h // 3, : w // 2]
      block[block == 21] = 28                      # building -> sky.
      semantic[self.rng.random(semantic.shape) < 0.05] = facts.VOID_LABEL
      t = int(frame[common.FRAME_INDEX])
      things = np.isin(semantic, facts.THING_IDS)
      ids = np.where(things, ids + (10 if t >= 4 else 0), 0)
      yield predictor_lib.FrameResult(semantic=semantic.astype(np.int32),
                                      ids=ids.astype(np.int32), frame_index=t)


def test_folder_scores_equal_the_online_evaluation(tmp_path, monkeypatch):
  config = vipseg.get_config("debug")
  config.data.data_dir = str(tmp_path / "tfds")
  monkeypatch.setattr(predictor_lib, "VideoPredictor", _NoisyGroundTruth)
  out = str(tmp_path / "eval")
  online = panoptic_eval.evaluate_variables(config, {}, out, num_pictures=0)
  assert online["num_frames"] == 8
  groundtruth = registry.manual_dir(config, prepare.data_dir_root(config))
  folder = score_folders.score("vipseg", groundtruth, os.path.join(out, "predictions"))
  assert folder["num_frames"] == 8
  # Not a trivial case: errors in both terms.
  assert 0.1 < folder["STQ"] < 0.99 and 0.1 < folder["VPQ"] < 0.99
  for key in ("STQ", "AQ", "SQ", "VPQ", "VPQ_th", "VPQ_st"):
    assert online[key] == pytest.approx(folder[key], abs=1e-12), key
  for n in (1, 2, 4, 6, 8):
    assert online[f"VPQ_k{n}"] == pytest.approx(
        folder["per_k"][str((n - 1) * 5)]["All"]["PQ"], abs=1e-12), n
