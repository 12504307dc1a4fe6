"""Peak host memory of whole-video KNetTrack inference on a generated video.

  python -m video_knet_jax.inference.vis_memory NUM_FRAMES WORKDIR [FRAME_CHUNK [HxW]]

Runs `vis_inference.predict_video` of configs/youtube_vis.py:debug (WORKDIR's
latest checkpoint) on one generated NUM_FRAMES-frame 64x96 video and prints
the process's peak RSS (CPU backend: device memory is host memory) and the
peak during inference alone: Linux's VmHWM, reset (/proc/self/clear_refs)
after the video is generated and the checkpoint loaded, so that generating a
long video does not hide what inference needs.
FRAME_CHUNK (default 0: the whole video in one call) sets
`config.inference.frame_chunk`; HxW (default 64x96) sets `config.data.test_size`,
the size the frames are resized to (the video stays 64x96).
"""
import gc
import resource
import sys

from video_knet_jax.configs import youtube_vis

from video_knet_jax.datasets.youtube_vis import generate  # pylint: disable=wrong-import-position
from video_knet_jax import checkpointing  # pylint: disable=wrong-import-position
from video_knet_jax.inference import vis_inference  # pylint: disable=wrong-import-position
from video_knet_jax.models import knet_track  # pylint: disable=wrong-import-position


def main(argv):
  if len(argv) not in (3, 4, 5):
    raise SystemExit(__doc__)
  num_frames, workdir = int(argv[1]), argv[2]
  frame_chunk = int(argv[3]) if len(argv) >= 4 else 0
  config = youtube_vis.get_config("debug")
  config.inference.frame_chunk = frame_chunk
  if len(argv) == 5:
    config.data.test_size = tuple(int(v) for v in argv[4].split("x"))
  frames, _, _ = generate.render_video(
      generate.YouTubeVisSpec(frames_per_video=num_frames), 0)
  variables = checkpointing.load_train_variables(workdir)
  gc.collect()
  with open("/proc/self/clear_refs", "w") as f:   # VmHWM := current RSS.
    f.write("5")
  predict = vis_inference.make_predict_fn(knet_track.build_model(config), frame_chunk)
  results = vis_inference.predict_video(predict, variables, frames, 1, config)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"T={num_frames} frame_chunk={frame_chunk} size={tuple(config.data.test_size)} entries={len(results)} "
        f"peak RSS {peak:.0f} MiB, during inference {_vm_hwm_mib():.0f} MiB")


def _vm_hwm_mib() -> float:
  """The process's peak RSS since the last clear_refs reset (Linux)."""
  with open("/proc/self/status") as f:
    line = next(l for l in f if l.startswith("VmHWM:"))
  return int(line.split()[1]) / 1024


if __name__ == "__main__":
  main(sys.argv)
