"""The smallest config of each task, for the tests that run every task.

One config per task (and device count), shared by every test of the loop,
the step and the driver, so that each task's train step is compiled once
and then read from the XLA cache. Each is its recipe's ':debug' variant
shrunk further: one update stage, crops of 32 x 64 at most, a few frames.
"""
from video_knet_jax.configs import synthetic_step
from video_knet_jax.configs import vspw
from video_knet_jax.configs import youtube_vis

TASKS = ("panoptic", "semantic", "instance")


# Two of the 8 emulated devices: one clip each. (On 8, the YouTube-VIS step
# deadlocked now and then in XLA:CPU: the devices' thunk executors ran two
# independent collectives in different orders and every pool thread ended
# up waiting in one of them; see the issue-25 report.)
NUM_DEVICES = 2


def tiny_config(task: str, data_dir: str, *, batch_size: int = NUM_DEVICES,
                num_steps: int = 4):
  """`task`'s tiny config on `NUM_DEVICES` devices (`config.mesh`):
  `batch_size` clips a step, `num_steps` steps, a checkpoint every 2, a log
  every 3, the skip policy on (one skipped step allowed), no evaluation while
  training."""
  if task == "panoptic":
    config = synthetic_step.get_config("debug")
    config.data.crop_size = (32, 64)
    config.model.num_stages = 1
    config.loss.stage_weights = (1.0,)
  elif task == "semantic":
    config = vspw.get_config("debug")
    config.data.generated.videos = (("train", 1), ("val", 1))
    config.data.generated.frames_per_video = 6
    config.data.generated.height = config.data.generated.width = 32
    config.data.base_size = (32, 256)
    config.data.crop_size = (32, 32)
    config.model.num_stages = 1
    config.loss.stage_weights = (1.0,)
  elif task == "instance":
    config = youtube_vis.get_config("debug")
    config.data.synthetic.update(num_videos=3, frames_per_video=4, height=32,
                                 width=64)
    config.data.val_every = 3
    config.data.canvas = (32, 64)
    config.data.short_sides = (32,)
    config.data.test_size = (32, 64)
    config.model.num_stages = 1
    config.loss.stage_weights = (1.0,)
  else:
    raise ValueError(task)
  config.data.data_dir = data_dir
  config.mesh = (("data", NUM_DEVICES),)
  config.optim.warmup_steps = 0
  config.train.batch_size = batch_size
  config.train.num_steps = num_steps
  config.train.checkpoint_every_steps = 2
  config.train.log_every_steps = 3
  config.train.eval_every_steps = 0
  config.train.max_skipped_steps = 1
  return config
