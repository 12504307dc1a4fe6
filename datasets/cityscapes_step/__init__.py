"""Cityscapes-STEP: Cityscapes fine images with KITTI-STEP's label space."""
