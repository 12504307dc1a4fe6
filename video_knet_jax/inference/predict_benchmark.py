r"""Times `predict` on a generated video and reports its peak memory.

  python -m video_knet_jax.inference.predict_benchmark \
      --config=configs/kitti_step.py --frames=12 --height=375 --width=1242
  python -m video_knet_jax.inference.predict_benchmark \
      --config=configs/kitti_step.py:debug --frames=2000 --height=128 --width=384

Writes an MP4 of moving rectangles (`--frames` frames of HEIGHT x WIDTH),
runs `python -m video_knet_jax.predict` on it in a child process (all outputs
written) and prints the child's frames/s (overall, and after its two
compilations) and peak resident memory (ru_maxrss).
"""
import os
import re
import resource
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

_CONFIG = flags.DEFINE_string("config", "configs/kitti_step.py", "Config file[:arg].")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "random", "Checkpoint (default random).")
_FRAMES = flags.DEFINE_integer("frames", 200, "Frames of the generated video.")
_HEIGHT = flags.DEFINE_integer("height", 375, "Frame height.")
_WIDTH = flags.DEFINE_integer("width", 1242, "Frame width.")


def write_video(path: str, frames: int, height: int, width: int, fps: int = 10) -> None:
  """An H.264 MP4 of two rectangles crossing a gradient, frame by frame."""
  import av  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  yy, xx = np.mgrid[:height, :width]
  background = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                         np.full_like(xx, 90)], -1).astype(np.uint8)
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
    for t in range(frames):
      rgb = background.copy()
      x = (7 * t) % max(width - width // 6, 1)
      rgb[height // 3:height // 3 + height // 4, x:x + width // 6] = (220, 30, 30)
      rgb[height // 2:height // 2 + height // 5, width - x - width // 8:width - x] = (30, 200, 40)
      for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    video = os.path.join(tmp, "generated.mp4")
    write_video(video, _FRAMES.value, _HEIGHT.value, _WIDTH.value)
    result = subprocess.run(
        [sys.executable, "-m", "video_knet_jax.predict", f"--config={_CONFIG.value}",
         f"--checkpoint={_CHECKPOINT.value}", f"--input={video}",
         f"--output={os.path.join(tmp, 'out')}"],
        capture_output=True, text=True, check=False)
    if result.returncode:
      sys.exit(f"predict failed:\n{result.stderr[-3000:]}")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = result.stdout.strip().splitlines()[-1]
    print(f"{_CONFIG.value}, {_FRAMES.value} frames of {_HEIGHT.value}x{_WIDTH.value}: "
          f"{re.sub(r' -> .*', '', summary)}; peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
  app.run(main)
