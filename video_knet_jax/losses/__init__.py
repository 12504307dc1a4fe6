"""Training losses of Video K-Net (reference sections 4.1-4.2).

Entry point: `video_loss.video_knet_loss(frame_outputs, batch, config)`.
Parts: `matching` (optax Hungarian), `mask_losses`, `class_losses`,
`resampling`, `segmentation_loss.frame_losses`, `tracking_loss`.
"""
