"""Video K-Net in JAX/Flax: kernel-based video panoptic segmentation and tracking."""

__version__ = "0.1.0"
