"""Every task's jitted steps lower for GPU and TPU from this CPU, with nothing CPU-only in them.

`jax.export` with platforms=('cuda', 'tpu'), lowering only (XLA compiles on
the target; no accelerator here): the full recipes' train steps (R50 and
Swin-B KITTI-STEP in bf16, YouTube-VIS KNetTrack, VSPW semantic K-Net and the
COCO image K-Net with the deformable pixel decoder, in
bf16) on the 8 emulated devices' data-parallel mesh, as a GPU box or a pod
runs them, and the online inference frame (model + linking + panoptic merge
+ tracker, one jit), at small inputs. The steps are the ones training and
prediction run: the task registry's model, loss and optimizer through
`train.build_train_step`, and `VideoPredictor.frame_fn`.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax import api
from video_knet_jax import portability
from video_knet_jax import random_batch
from video_knet_jax import sharding
from video_knet_jax import tasks
from video_knet_jax import train
from video_knet_jax.inference import predictor as predictor_lib


def _config(recipe: str, height: int, width: int):
  config = api.load_config(f"configs/{recipe}")
  config.model.dtype = "bfloat16"
  if recipe.endswith("debug"):   # one kernel-update stage: the others repeat its program.
    config.model.num_stages = 1
    config.loss.stage_weights = (1.0,)
  random_batch.configure_without_data(config, height, width)
  return config


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def _main_arguments(text: str) -> list[tuple[str, bool]]:
  """(name, split over 'data') of each argument of the lowered `main`."""
  signature = next(l for l in text.splitlines() if "func.func public @main(" in l)
  arguments = re.split(r",? %arg\d+: ", signature.split("@main(", 1)[1])[1:]
  return [(re.search(r'loc\("([^"]*)"\)', a).group(1), '{"data"}' in a.split(" loc(")[0])
          for a in arguments]


def _dtypes_of(text: str, op: str) -> list[str]:
  """Result element types of every `op` in the lowered program."""
  return [re.search(r"->\s*tensor<[^>]*?x?([a-z]+\d+)>", l).group(1)
          for l in text.splitlines() if f"stablehlo.{op}" in l and "->" in l]


@pytest.mark.parametrize("recipe,height,width", [
    ("kitti_step.py", 64, 128),           # R50 Video K-Net.
    # Swin-B, the VIS and VSPW recipes smaller (':debug' with one update
    # stage: fewer blocks and channels, the same modules and losses; Swin-B
    # keeps kernel fusion, the 'update' link and a shifted-window block in
    # every stage): their full depth costs lowering time, not coverage
    # (measured: 14 -> 9 CPU-s for Swin-B).
    ("kitti_step.py:swin_b,debug", 64, 128),
    ("youtube_vis.py:debug", 64, 96),     # KNetTrack (clip-level VIS).
    ("vspw.py:debug", 64, 64),            # semantic K-Net (PSP head).
    # COCO image K-Net (image_instance task) with the deformable pixel decoder.
    ("coco.py:deformable,debug", 64, 96),
])
def test_train_step_lowers_for_gpu_and_tpu_data_parallel(recipe, height, width):
  config = _config(recipe, height, width)
  mesh = sharding.make_mesh(config.mesh)          # 8 emulated devices, one 'data' axis.
  assert mesh.shape[sharding.DATA_AXIS] == 8
  built = train.build_train_step(config, mesh)
  batch = _abstract(built.task.random_train_batch(config, 8))
  exported, text = portability.lower_for_accelerators(built.step, built.state.abstract, batch)
  assert exported.platforms == ("cuda", "tpu") and exported.nr_devices == 8
  # Plain StableHLO: no custom call at all (nothing a backend must supply).
  assert portability.custom_call_targets(text) == []
  assert 'sdy.mesh @mesh = <["data"=8]>' in text
  arguments = _main_arguments(text)
  batch = [split for name, split in arguments if name.startswith("batch")]
  state = [split for name, split in arguments if name.startswith("state")]
  assert len(batch) >= 2 and all(batch), arguments[-5:]   # every batch input split over 'data'.
  assert len(state) > 100 and not any(state)            # parameters, optimizer state replicated.
  # bf16 compute: every convolution, and most matmuls (losses stay float32).
  convolutions, matmuls = _dtypes_of(text, "convolution"), _dtypes_of(text, "dot_general")
  assert convolutions and set(convolutions) == {"bf16"}, set(convolutions)
  assert matmuls.count("bf16") > 0.5 * len(matmuls), (matmuls.count("bf16"), len(matmuls))


def test_online_inference_frame_lowers_for_gpu_and_tpu():
  """Model with the previous frame's kernels, merge and tracker: VideoPredictor's one jit."""
  config = _config("kitti_step.py", 64, 128)
  task = tasks.get(config)
  model = task.build_model(config)
  variables = jax.eval_shape(lambda r: task.init_variables(model, config, r),
                             jax.random.key(0))
  predictor = predictor_lib.VideoPredictor(model, variables, config)
  exported, text = portability.lower_for_accelerators(
      predictor.frame_fn, *predictor.frame_arguments((64, 128)))
  assert exported.platforms == ("cuda", "tpu")
  assert portability.custom_call_targets(text) == []
  semantic, ids = exported.out_avals[:2]           # the padded maps [H, W].
  assert semantic.shape == ids.shape == (64, 128) and ids.dtype == jnp.int32
  assert set(_dtypes_of(text, "convolution")) == {"bf16"}


def test_cpu_only_constructs_are_refused():
  """The check can fail: a host callback, float64 and a LAPACK kernel."""
  x = jax.ShapeDtypeStruct((4,), jnp.float32)
  callback = jax.jit(lambda v: jax.pure_callback(
      lambda a: np.asarray(a) * 2, jax.ShapeDtypeStruct((4,), jnp.float32), v))
  with pytest.raises(portability.NotPortableError, match="does not lower"):
    portability.lower_for_accelerators(callback, x)
  with jax.enable_x64(True):
    with pytest.raises(portability.NotPortableError, match="64-bit floats"):
      portability.lower_for_accelerators(jax.jit(lambda v: v.astype(jnp.float64).sum()), x)
  # LU on the CPU is a LAPACK custom call (cuSOLVER / XLA's own on GPU / TPU).
  inverse = jax.jit(lambda v: jnp.linalg.inv(v.reshape(2, 2)))
  with pytest.raises(portability.NotPortableError, match="CPU-only custom call lapack_"):
    portability.lower_for_accelerators(inverse, x, platforms=("cpu",))
  assert portability.lower_for_accelerators(inverse, x).exported.platforms == ("cuda", "tpu")
