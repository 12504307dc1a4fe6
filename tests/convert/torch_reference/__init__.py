"""Test-only PyTorch Video K-Net (plain torch.nn), written from the reference spec.

Module names match the original exactly so `load_state_dict(strict=True)`
accepts an exported checkpoint; used only to check numerical parity.
"""
