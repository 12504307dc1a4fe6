"""import -> Orbax variables dir -> export, through the CLI functions (debug model)."""
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax import checkpointing
from video_knet_jax.convert import conversion as cli
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import torch_files
from video_knet_jax.convert import torch_to_flax


def test_import_then_export_reproduces_the_file(tmp_path):
  cfg = model_fixtures.config("debug", link_all_stages=False)
  variables = model_fixtures.random_variables(model_fixtures.abstract(cfg), seed=5)
  state = flax_to_torch.flax_to_torch(variables)
  src = str(tmp_path / "in.safetensors")
  torch_files.save_state_dict(src, state)

  report = cli.import_torch(cfg, src, str(tmp_path / "vars"))
  assert report.source == "video_knet" and not report.left_at_init
  restored = model_variables.load_variables(cfg, str(tmp_path / "vars"))
  np.testing.assert_array_equal(restored["params"]["rpn_head"]["init_kernels"]["kernel"],
                                variables["params"]["rpn_head"]["init_kernels"]["kernel"])

  out = str(tmp_path / "out.safetensors")
  cli.export(cfg, str(tmp_path / "vars"), out)
  again, meta = torch_files.load_state_dict(out)
  assert sorted(again) == sorted(state) and meta["source"] == "video_knet_jax"
  for k, v in state.items():
    np.testing.assert_array_equal(again[k], v, err_msg=k)


def test_export_refuses_a_checkpoint_of_another_model(tmp_path):
  cfg = model_fixtures.config("debug")
  small = model_fixtures.random_variables(model_fixtures.abstract(cfg), seed=6)
  checkpointing.save_variables(str(tmp_path / "vars"), small)
  other = model_fixtures.config("debug")
  other.model.num_proposals = 9
  with pytest.raises(ValueError, match="does not match the model of --config"):
    cli.export(other, str(tmp_path / "vars"), str(tmp_path / "x.safetensors"))


def test_strict_import_failure_is_reported(tmp_path):
  cfg = model_fixtures.config("debug")
  state = flax_to_torch.flax_to_torch(
      model_fixtures.random_variables(model_fixtures.abstract(cfg)))
  del state["neck.fpn_convs.0.conv.weight"]
  src = str(tmp_path / "in.safetensors")
  torch_files.save_state_dict(src, state)
  with pytest.raises(torch_to_flax.ConversionError, match="missing keys"):
    cli.import_torch(cfg, src, str(tmp_path / "vars"))


def test_export_from_a_training_workdir(tmp_path):
  cfg = model_fixtures.config("debug")
  variables = model_fixtures.random_variables(model_fixtures.abstract(cfg), seed=7)
  state = {"step": np.int32(3), "params": variables["params"],
           "batch_stats": variables["batch_stats"], "opt_state": {"mu": np.zeros(2, np.float32)}}
  saver = checkpointing.TrainCheckpointer(str(tmp_path / "work"), save_every_steps=1)
  saver.save(3, state, force=True)
  saver.close()
  exported = cli.export(cfg, str(tmp_path / "work"), str(tmp_path / "x.safetensors"))
  np.testing.assert_array_equal(
      exported["neck.fpn_convs.0.conv.weight"],
      np.transpose(variables["params"]["neck"]["fpn_convs"]["0"]["conv"]["kernel"], (3, 2, 0, 1)))
