"""dump_outputs runs sequences in order and stores exactly the requested frames."""
import jax
import numpy as np
import pytest
from PIL import Image

from tests.convert import model_fixtures
from video_knet_jax import common
from video_knet_jax.convert import dump_outputs
from video_knet_jax.models import video_knet


def test_parse_frames():
  assert dump_outputs.parse_frames("2:0, 2:5,7:3") == {2: {0, 5}, 7: {3}}
  with pytest.raises(ValueError, match="sequence:frame"):
    dump_outputs.parse_frames("2-0")


def test_dump_chains_previous_kernels_and_keeps_requested_frames():
  cfg = model_fixtures.config("debug")
  model = video_knet.build_model(cfg)
  variables = model_fixtures.random_variables(model_fixtures.abstract(cfg), seed=4)
  rng = np.random.RandomState(0)
  images = rng.randn(4, 64, 64, 3).astype(np.float32)
  sequences = [(5, iter([{common.IMAGE: images[0], common.FRAME_INDEX: 0}])),
               (9, iter([{common.IMAGE: im, common.FRAME_INDEX: i}
                         for i, im in enumerate(images)]))]
  arrays = dump_outputs.dump_outputs(model, variables, sequences, {9: {0, 1, 2}})
  np.testing.assert_array_equal(arrays["frames"], [[9, 0], [9, 1], [9, 2]])
  assert sorted(arrays) == sorted(["frames"] + [f"s9_f{f}/{k}" for f in (0, 1, 2)
                                                for k in dump_outputs.DUMP_KEYS])
  assert arrays["s9_f2/mask_logits"].shape == (8 + 17, 8, 8)   # things + stuff, stride 8.
  # Frame 0 has no previous kernels (no link); frame 2 is linked to frame 1's kernels.
  np.testing.assert_array_equal(arrays["s9_f0/track_kernels"], arrays["s9_f0/kernels"])
  out = jax.jit(model.apply)(variables, images[2][None], arrays["s9_f1/kernels"][None])
  for key in dump_outputs.DUMP_KEYS:
    np.testing.assert_allclose(arrays[f"s9_f2/{key}"], np.asarray(out[key][0]),
                               rtol=1e-4, atol=1e-3, err_msg=key)
  assert np.abs(arrays["s9_f2/track_kernels"] - arrays["s9_f2/kernels"]).max() > 1e-2
  with pytest.raises(ValueError, match=r"\(9, 7\)"):
    dump_outputs.dump_outputs(model, variables, [(9, iter([]))], {9: {7}})


def test_frames_from_images_normalises_and_pads(tmp_path):
  cfg = model_fixtures.config("debug")
  rgb = np.zeros((40, 70, 3), np.uint8)
  rgb[0, 0] = (255, 0, 128)
  Image.fromarray(rgb).save(tmp_path / "a.png")
  (frame,) = list(dump_outputs.frames_from_images(cfg, [str(tmp_path / "a.png")]))
  image = frame[common.IMAGE]
  assert image.shape == (64, 96, 3) and frame[common.FRAME_INDEX] == 0
  np.testing.assert_allclose(image[0, 0], (np.array([255, 0, 128]) - cfg.data.mean) / cfg.data.std,
                             rtol=1e-6)
  np.testing.assert_allclose(image[1, 1], -np.array(cfg.data.mean) / cfg.data.std, rtol=1e-6)
  assert np.all(image[40:] == 0) and np.all(image[:, 70:] == 0)
