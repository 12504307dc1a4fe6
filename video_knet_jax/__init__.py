"""Video K-Net in JAX/Flax: kernel-based video panoptic segmentation and tracking.

  tasks/      one module per task (config.task): panoptic, semantic, instance
  train/      the one training machinery (state, step, loop)
  eval/       the one evaluation driver
  data/       the clip pipeline core and each task's plug-in
  models/ losses/ inference/ evaluation/ convert/   the model and its parts
  cli/        command-line plumbing; predict.py, export.py, benchmark*.py and
              api.py are the other entry points
  checkpointing, sharding, optim, common (every key), atomic_files, shapes:
              the core infrastructure the rest shares
"""

__version__ = "0.1.0"
