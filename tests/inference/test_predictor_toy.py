"""The toy row (an image K-Net per frame, its raw thing kernels to the tracker) and
the config switches of the online predictor."""
import jax.numpy as jnp
import numpy as np

from tests.inference.test_predictor import CAR_TRAIN_ID
from tests.inference.test_predictor import _FakeModel
from tests.inference.test_predictor import _config
from tests.inference.test_predictor import _frame
from video_knet_jax import common
from video_knet_jax.inference import predictor as pr


class _ImageKNet(_FakeModel):
  """The fake model as an image K-Net: no embeddings, the objects live in KERNELS."""

  def apply(self, variables, images, previous_kernels=None, train=False):
    assert previous_kernels is None, "an image K-Net sees each frame alone"
    out = super().apply(variables, images, None, train)
    kernels = jnp.zeros((1, self.p + self.s, self.e))
    out[common.KERNELS] = kernels.at[0, :self.p].set(out.pop(common.TRACK_EMBEDDINGS)[0])
    return out


def test_ids_follow_the_kernels_of_an_image_knet():
  config = _config()
  config.model.temporal.enabled = False
  config.model.feat_channels = config.model.temporal.embed_channels   # kernel width D.
  pred = pr.VideoPredictor(_ImageKNet(config), {}, config)
  assert pred.embed_dim == config.model.feat_channels
  # The two cars swap proposal slots on odd frames: only their kernels say who is who.
  frames = [_frame(8 + 8 * t, 128 - 8 * t, swap=t % 2 == 1) for t in range(4)]
  for t, res in enumerate(pred.predict_sequence(frames)):
    a, b = (24, 28 + 8 * t), (24, 148 - 8 * t)
    assert res.semantic[a] == CAR_TRAIN_ID
    assert (res.ids[a], res.ids[b]) == (1, 2), f"frame {t}"
  assert pred.model.traces == 1      # every frame the same compiled step.


def test_config_selects_the_tracker_metric_and_the_merge():
  """evaluate.py / predict pass their config here: `--config.tracker.match_metric=`
  and `--config.inference.merge=` reach the tracker and the merge."""
  config = _config()
  config.tracker.match_metric = "cosine"
  config.inference.merge = "stuff_first"
  pred = pr.VideoPredictor(_FakeModel(config), {}, config)
  assert pred.tracker_settings.match_metric == "cosine"
  assert pred.merge_settings.merge == "stuff_first"
  assert pred.merge_settings.stuff_max_area == config.inference.stuff_max_area


def test_predict_command_line_passes_the_tracker_and_merge_switches(tmp_path, monkeypatch):
  """`predict --config.tracker.match_metric=... --config.inference.merge=...` hands
  them (and --association) to the model it loads, i.e. to the predictor above."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax import predict  # pylint: disable=g-import-not-at-top
  seen = {}

  def load_model(config, checkpoint, **kwargs):
    seen.update(metric=config.tracker.match_metric, merge=config.inference.merge,
                association=kwargs["association"])
    raise api.CheckpointError(f"{checkpoint}: stop here")

  monkeypatch.setattr(api, "load_model", load_model)
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "0.png")
  status = predict.main(["predict", "--config=configs/kitti_step.py:debug",
                         "--config.tracker.match_metric=cosine",
                         "--config.inference.merge=thing_first", "--association=mask_iou",
                         "--checkpoint=random", f"--input={tmp_path}",
                         f"--output={tmp_path / 'out'}"])
  assert status == 2
  assert seen == dict(metric="cosine", merge="thing_first", association="mask_iou")
