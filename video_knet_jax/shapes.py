"""Static shapes shared by training, the input pipeline and inference.

Kept free of TensorFlow and of the model so that every side can import it.
"""
from typing import Sequence, Tuple


def round_up(size: Sequence[int], divisor: int) -> Tuple[int, ...]:
  """Each of `size` rounded up to a multiple of `divisor` (pad targets)."""
  return tuple(-(-int(s) // int(divisor)) * int(divisor) for s in size)
