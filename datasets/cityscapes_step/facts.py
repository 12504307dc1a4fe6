"""Facts about Cityscapes-STEP, the image set the KITTI-STEP K-Net starts from.

Cityscapes fine annotations (trainIds) read the way Video K-Net's
`external/cityscapes_step.py` reads them, with KITTI-STEP's convention that
only person and car carry instance ids (the original's
`KNetInsAdapterCherryPick(cherry=[11, 13])`): the other six Cityscapes thing
classes are used as stuff. Split sizes are Cityscapes' fine splits.
"""
from video_knet_jax.datasets import cityscapes_labels
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.kitti_step import facts as step_facts

CITYSCAPES_STEP = frame_examples.PanopticFacts(
    name="cityscapes_step",
    class_names=cityscapes_labels.CLASS_NAMES,
    thing_ids=step_facts.KITTI_STEP.thing_ids,   # person, car.
    void_label=cityscapes_labels.VOID_LABEL,
    label_divisor=step_facts.PANOPTIC_DIVISOR,
    colors=cityscapes_labels.COLORS,
    split_videos={"train": 2975, "val": 500, "test": 1525},
    split_frames={"train": 2975, "val": 500, "test": 1525},
    labelled_splits=("train", "val"),
)
# Cityscapes' instanceTrainIds PNGs: trainId * 1000 + k (k = 0, 1, ... per
# image) for thing pixels with an instance, trainId alone otherwise.
INSTANCE_DIVISOR = 1000
