"""Facts about Cityscapes-VPS (Kim et al., CVPR 2020; mcahny/vps).

Label space: Cityscapes trainIds, 11 stuff (0..10) and 8 things (11..18),
`prepare_data/city_default.py`. 500 videos of 30 frames at 1024x2048 split
400 / 50 / 50; frames 5, 10, ..., 30 of each video are labelled (the 20th is
the original Cityscapes fine frame): 2,400 / 300 / 300 labelled frames. Train
ships only its labelled frames (`train/img`), val and test all 30
(`img_all`); test labels are not public.
"""
from video_knet_jax.datasets import cityscapes_labels
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.kitti_step import facts as step_facts

FRAMES_PER_VIDEO = 30
LABEL_EVERY = 5
FINE_FRAME_INDEX = 19   # 0-based index of the `_leftImg8bit` frame.

CITYSCAPES_VPS = frame_examples.PanopticFacts(
    name="cityscapes_vps",
    class_names=cityscapes_labels.CLASS_NAMES,
    thing_ids=tuple(range(11, 19)),   # person .. bicycle, model order.
    void_label=cityscapes_labels.VOID_LABEL,
    label_divisor=step_facts.PANOPTIC_DIVISOR,
    colors=cityscapes_labels.COLORS,
    split_videos={"train": 400, "val": 50, "test": 50},
    split_frames={"train": 2400, "val": 1500, "test": 1500},
    labelled_splits=("train", "val"),
)


def labelled_frame_indices() -> tuple[int, ...]:
  """0-based indices of the labelled frames of a video: 4, 9, ..., 29."""
  return tuple(range(LABEL_EVERY - 1, FRAMES_PER_VIDEO, LABEL_EVERY))
