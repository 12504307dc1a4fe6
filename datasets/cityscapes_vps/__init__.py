"""Cityscapes-VPS: 500 Cityscapes snippets of 30 frames, every 5th labelled."""
