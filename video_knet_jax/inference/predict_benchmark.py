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


def time_predict(config: str, frames: int, height: int, width: int,
                 checkpoint: str = "random") -> dict:
  """Runs predict on a generated video in a child process; its figures."""
  with tempfile.TemporaryDirectory() as tmp:
    video = os.path.join(tmp, "generated.mp4")
    write_video(video, frames, height, width)
    result = subprocess.run(
        [sys.executable, "-m", "video_knet_jax.predict", f"--config={config}",
         f"--checkpoint={checkpoint}", f"--input={video}",
         f"--output={os.path.join(tmp, 'out')}"],
        capture_output=True, text=True, check=False)
    if result.returncode:
      raise RuntimeError(f"predict failed:\n{result.stderr[-3000:]}")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = re.sub(r" -> .*", "", result.stdout.strip().splitlines()[-1])
    rates = [float(x) for x in re.findall(r"([0-9.]+) frames/s", summary)]
    return {"summary": summary, "frames": frames, "height": height, "width": width,
            "predict_frames_per_s": rates[0],
            "predict_steady_frames_per_s": rates[1] if len(rates) > 1 else None,
            "peak_rss_mib": round(peak_mib)}


def main(argv):
  del argv
  f = flags.FLAGS
  r = time_predict(f.config, f.frames, f.height, f.width, f.checkpoint)
  print(f"{f.config}, {f.frames} frames of {f.height}x{f.width}: "
        f"{r['summary']}; peak RSS {r['peak_rss_mib']} MiB")


if __name__ == "__main__":
  # Defined here, not at import: `benchmark --mode=side_by_side` imports
  # `time_predict` next to its own --config/--height/--width flags.
  flags.DEFINE_string("config", "configs/kitti_step.py", "Config file[:arg].")
  flags.DEFINE_string("checkpoint", "random", "Checkpoint (default random).")
  flags.DEFINE_integer("frames", 200, "Frames of the generated video.")
  flags.DEFINE_integer("height", 375, "Frame height.")
  flags.DEFINE_integer("width", 1242, "Frame width.")
  app.run(main)
