"""Reading/writing checkpoint files: mmcv layout, safetensors, refusing pickles."""
import collections

import numpy as np
import pytest

from video_knet_jax.convert import torch_files

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _state():
  rng = np.random.RandomState(0)
  return collections.OrderedDict([
      ("neck.fpn_convs.0.conv.weight", rng.randn(4, 2, 3, 3).astype(np.float32)),
      ("backbone.bn1.num_batches_tracked", np.zeros((), np.int64)),
      ("fc_embed.bias", rng.randn(4).astype(np.float32)),
  ])


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_write_read_round_trip(tmp_path, suffix):
  path = str(tmp_path / ("model" + suffix))
  torch_files.save_state_dict(path, _state(), {"source": "test", "num_classes": 19})
  state, meta = torch_files.load_state_dict(path)
  if suffix == ".pth":   # safetensors stores keys sorted; order matters only to humans.
    assert list(state) == list(_state())
  assert sorted(state) == sorted(_state())
  for k, v in _state().items():
    assert state[k].dtype == v.dtype and state[k].shape == v.shape
    np.testing.assert_array_equal(state[k], v)
  assert meta["source"] == "test" and "time" in meta


def test_pth_is_mmcv_layout_readable_with_weights_only(tmp_path):
  path = str(tmp_path / "model.pth")
  torch_files.save_state_dict(path, _state(), {"epoch": 12})
  raw = torch.load(path, weights_only=True)
  assert set(raw) == {"state_dict", "meta"} and raw["meta"]["epoch"] == 12
  assert list(raw["state_dict"]) == list(_state())
  assert raw["state_dict"]["backbone.bn1.num_batches_tracked"].dtype == torch.int64


def test_plain_and_wrapped_and_ddp_state_dicts(tmp_path):
  t = {"module.fc_embed.bias": torch.arange(3.0, dtype=torch.bfloat16)}
  for name, obj in (("plain.pt", t), ("swin.pth", {"model": t}), ("mm.pth", {"state_dict": t})):
    torch.save(obj, str(tmp_path / name))
    state, _ = torch_files.load_state_dict(str(tmp_path / name))
    assert list(state) == ["fc_embed.bias"] and state["fc_embed.bias"].dtype == np.float32
    np.testing.assert_array_equal(state["fc_embed.bias"], [0.0, 1.0, 2.0])


class _Arbitrary:   # Anything beyond tensors/containers needs full unpickling.
  pass


def test_arbitrary_pickles_are_refused(tmp_path):
  path = str(tmp_path / "evil.pth")
  torch.save({"state_dict": {"a": torch.zeros(1)}, "extra": _Arbitrary()}, path)
  with pytest.raises(ValueError, match="refused to load"):
    torch_files.load_state_dict(path)


def test_missing_file_and_non_tensor_entries(tmp_path):
  with pytest.raises(FileNotFoundError):
    torch_files.load_state_dict(str(tmp_path / "nope.pth"))
  path = str(tmp_path / "odd.pth")
  torch.save({"a": torch.zeros(1), "b": 3}, path)
  with pytest.raises(ValueError, match="'b' is a int"):
    torch_files.load_state_dict(path)
