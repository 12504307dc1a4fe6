"""Configs and cheap variable trees for the conversion tests (no model.init)."""
import jax
import numpy as np

from video_knet_jax.configs import kitti_step
from video_knet_jax.convert import model_variables


def config(arg: str = "", link_all_stages: bool = True):
  cfg = kitti_step.get_config(arg)
  cfg.model.temporal.link_all_stages = link_all_stages
  return cfg


def random_variables(abstract, seed: int = 0):
  """Random float32 values of the abstract tree (variances positive)."""
  rng = np.random.RandomState(seed)
  def draw(path, s):
    name = str(path[-1].key)
    if name == "var":
      return rng.uniform(0.5, 1.5, s.shape).astype(s.dtype)
    return rng.standard_normal(s.shape).astype(s.dtype)
  return jax.tree_util.tree_map_with_path(draw, abstract)


def abstract(cfg):
  return model_variables.abstract_variables(cfg)
