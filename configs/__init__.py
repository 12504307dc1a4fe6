"""The recipes: one `get_config(arg)` file per data set, each with ':debug'.

Imported as `video_knet_jax.configs.<name>` (in a clone this package points
here, and `pip install` ships this folder as that package), and loaded by
path by ml_collections: `--config=configs/kitti_step.py:debug`. Shared
pieces: `common.py` (argument parsing, normalisation, model and optimizer
blocks, the train loop's fields), `swin_recipes.py` (the Swin backbones).
"""
