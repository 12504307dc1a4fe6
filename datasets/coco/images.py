"""Reads a COCO image file and checks it against its JSON entry."""
import io
import os

from PIL import Image as PILImage

from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.coco import errors

# COCO's JPEGs are RGB, a few grayscale ('L'); anything else is re-encoded as RGB.
_STORED_MODES = ("RGB", "L")


def read_checked(path: str, image, json_path) -> bytes:
  """The JPEG bytes of `path` (unchanged unless re-encoded from another mode).

  Raises MissingImageError if absent and BadImageError if it does not decode
  as a JPEG or its size is not the JSON's (height, width).
  """
  if not os.path.isfile(path):
    raise errors.MissingImageError(f"{json_path} lists image {image.image_id} as "
                                   f"{image.file_name!r}, but {path} does not exist.")
  data, array, size = frame_examples.read_image(
      path, ("JPEG",), _STORED_MODES + ("CMYK", "YCbCr", "P", "LA", "RGBA"),
      errors.BadImageError)
  if size != (image.height, image.width):
    raise errors.BadImageError(f"{path} is {size[0]}x{size[1]} but {json_path} says image "
                               f"{image.image_id} is {image.height}x{image.width}.")
  with PILImage.open(io.BytesIO(data)) as img:
    if img.mode in _STORED_MODES:
      return data
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, format="JPEG", quality=95)
  del array
  return buffer.getvalue()
