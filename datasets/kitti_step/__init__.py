"""KITTI-STEP: on-disk layouts, label encoding, facts and the TFDS builder."""
