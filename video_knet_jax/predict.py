r"""Predicts tracked panoptic segments on your own video, frame folder or glob.

  python -m video_knet_jax.predict --config=configs/kitti_step.py \
      --checkpoint=DIR --input=clip.mp4 --output=OUT_DIR
  vknet-predict --config=... --checkpoint=DIR --input='frames/*.png' --output=OUT \
      --start=100 --every_n=2 --max_frames=500

--checkpoint is a training workdir, a variables directory from
`python -m video_knet_jax.convert import`, or 'random'. Frames are decoded and
resized to config.inference.test_scale a few frames ahead in a thread,
predicted, and written in another thread behind the model (bounded queues:
memory stays flat over any length). OUT_DIR receives:
  panoptic/{frame:06d}.png  KITTI-STEP submission encoding (R = class,
                            G * 256 + B = track id), frame = source frame number
  overlay.mp4               class colours, one colour per track id, ids and
                            class names drawn on
  preview.gif               at most --gif_frames frames spread over the video
  tracks.json               per track: id, class, first/last frame, per frame
                            score, box and area; rewritten atomically every
                            --flush_every frames and at the end ("complete")
A bad input (missing, empty or unreadable video, codec without a decoder,
folder without images, checkpoint that does not fit the config) ends with a
one-line error naming the path and exit status 2.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

EXIT_BAD_INPUT = 2


class Progress:
  """'done/total frames, frames/s, ETA' on stderr (a line every 5 s off a terminal)."""

  def __init__(self, total, stream=sys.stderr):
    self.total, self.stream = total, stream
    self.start = self.last = time.time()
    self.done = 0
    self.tty = stream.isatty()

  def rate(self) -> float:
    return self.done / max(time.time() - self.start, 1e-9)

  def line(self) -> str:
    rate = self.rate()
    total = f"/{self.total}" if self.total else ""
    eta = ""
    if self.total and rate > 0:
      left = max(self.total - self.done, 0) / rate
      eta = f", ETA {int(left // 60):d}:{int(left % 60):02d}"
    return f"{self.done}{total} frames, {rate:.2f} frames/s{eta}"

  def update(self) -> None:
    self.done += 1
    now = time.time()
    if self.tty:
      self.stream.write("\r" + self.line() + "   ")
      self.stream.flush()
    elif now - self.last >= 5:
      self.last = now
      print(self.line(), file=self.stream, flush=True)

  def finish(self) -> None:
    print(("\r" if self.tty else "") + self.line(), file=self.stream, flush=True)


def run(config, checkpoint: str, input_path: str, output_dir: str, *, step=None,
        start: int = 0, every_n: int = 1, max_frames=None, association: str = "embedding",
        flush_every: int = 50, gif_frames: int = 60, overlay_video: bool = True,
        progress_stream=sys.stderr) -> dict:
  """Predicts `input_path` into `output_dir`; returns a summary dict.

  Raises:
    video_io.InputError, api.CheckpointError: bad input (one-line messages).
  """
  # pylint: disable=g-import-not-at-top
  from video_knet_jax import api
  from video_knet_jax.inference import background
  from video_knet_jax.inference import kitti_step_png
  from video_knet_jax.inference import labels as labels_lib
  from video_knet_jax.inference import track_log
  from video_knet_jax.inference import video_io
  from video_knet_jax.inference import visualize
  # pylint: enable=g-import-not-at-top
  source = video_io.open_frames(input_path, start=start, every_n=every_n,
                                max_frames=max_frames)
  model = api.load_model(config, checkpoint, step=step, association=association)
  os.makedirs(output_dir, exist_ok=True)
  png_dir = os.path.join(output_dir, "panoptic")
  fps = source.fps / every_n
  log = track_log.TrackLog(
      os.path.join(output_dir, "tracks.json"), model.class_names,
      meta={"input": os.path.abspath(input_path), "start": start, "every_n": every_n,
            "fps": round(fps, 4), "class_names": list(model.class_names)})
  stride = -(-source.num_frames // gif_frames) if source.num_frames and gif_frames else 1
  gif = video_io.GifPreview(max_frames=gif_frames, stride=stride)
  mp4 = None
  progress = Progress(source.num_frames, progress_stream)
  complete = False
  size = None
  warm = None

  def write(frame):
    """Every output of one frame; runs behind the model in a thread."""
    nonlocal size, warm, mp4
    size = frame.semantic.shape
    kitti_step_png.write_kitti_step_png(
        os.path.join(png_dir, f"{frame.index:06d}.png"), frame.semantic, frame.ids)
    boxes = log.add(frame.index, frame.semantic, frame.ids, frame.scores)
    drawn = labels_lib.draw_track_labels(
        visualize.overlay(frame.image, frame.semantic, frame.ids),
        {k: (box, log.class_name(k)) for k, (box, _) in boxes.items()})
    if overlay_video:
      if mp4 is None:
        mp4 = video_io.Mp4Writer(os.path.join(output_dir, "overlay.mp4"), fps)
      mp4.write(drawn)
    gif.offer(drawn)
    progress.update()
    if log.num_frames == 2:      # both compilations (first and later frames) done.
      warm = (time.time(), 2)
    if flush_every and log.num_frames % flush_every == 0:
      log.write(complete=False)

  writer = background.WriteBehind(write)
  try:
    try:
      for frame in model.predict_source(source):
        writer.submit(frame)
    finally:
      writer.close()
    complete = True
  finally:
    if mp4 is not None:
      mp4.close()
    log.write(complete=complete)
  progress.finish()
  gif_count = gif.save(os.path.join(output_dir, "preview.gif"), fps) if gif_frames else 0
  steady = None
  if warm is not None and log.num_frames > warm[1]:
    steady = (log.num_frames - warm[1]) / max(time.time() - warm[0], 1e-9)
  return {"frames": log.num_frames, "frames_per_second": progress.rate(),
          "steady_frames_per_second": steady, "size": size, "gif_frames": gif_count,
          "output": output_dir}


def define_flags(flag_values: flags.FlagValues, argv=None) -> None:
  """predict's flags, on their own FlagValues (importing this module defines none);
  the `--config.a.b=value` overrides are those of `argv` (default sys.argv)."""
  fv = dict(flag_values=flag_values)
  config_flags.DEFINE_config_file("config", None, "Model config, e.g. configs/kitti_step.py.",
                                  lock_config=True, sys_argv=argv, **fv)
  flags.DEFINE_string("checkpoint", None,
                      "Training workdir, converted variables dir, or 'random'.", **fv)
  flags.DEFINE_integer("step", None, "Training checkpoint step (default latest).", **fv)
  flags.DEFINE_string("input", None, "Video (.mp4 .avi .mov .mkv .webm), folder of frames, "
                      "or glob (quote it).", **fv)
  flags.DEFINE_string("output", None, "Output folder.", **fv)
  flags.DEFINE_integer("start", 0, "First source frame to predict.", **fv)
  flags.DEFINE_integer("every_n", 1, "Predict every n-th frame from --start.", **fv)
  flags.DEFINE_integer("max_frames", None, "Predict at most this many frames.", **fv)
  flags.DEFINE_enum("association", "embedding", ["embedding", "mask_iou"],
                    "Learned embedding tracker, or the mask-IoU baseline.", **fv)
  flags.DEFINE_integer("flush_every", 50, "Rewrite tracks.json every n frames.", **fv)
  flags.DEFINE_integer("gif_frames", 60, "Frames in preview.gif (0: none).", **fv)
  flags.DEFINE_bool("overlay", True, "Write overlay.mp4.", **fv)


def parse_args(argv, doc: str, define) -> "tuple[int | None, flags.FlagValues]":
  """Parses argv on fresh FlagValues; (exit status, None) for --help or a usage error."""
  fv = flags.FlagValues()
  define(fv, argv)   # argv: config_flags registers its --config.* overrides from it.
  if any(a in ("-h", "--help", "-help", "--helpfull") for a in argv[1:]):
    print(doc.strip() + "\n\nFlags:\n" + fv.get_help(), file=sys.stdout)
    return 0, None
  try:
    rest = fv(argv)
  except flags.Error as e:
    print(f"error: {e}\nPass --help for usage.", file=sys.stderr)
    return EXIT_BAD_INPUT, None
  if len(rest) > 1:
    print(f"error: unexpected arguments {rest[1:]}.", file=sys.stderr)
    return EXIT_BAD_INPUT, None
  return None, fv


def main(argv=None) -> int:
  """The command line (see the module docstring); returns the exit status."""
  argv = sys.argv if argv is None else argv
  status, fv = parse_args(argv, __doc__, define_flags)
  if fv is None:
    return status
  for name in ("config", "checkpoint", "input", "output"):
    if fv[name].value is None:
      print(f"error: --{name} is required (--help for usage).", file=sys.stderr)
      return EXIT_BAD_INPUT
  from video_knet_jax.cli import host_cpu  # pylint: disable=g-import-not-at-top
  host_cpu.setup()   # before JAX starts its backend.
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax.inference import video_io  # pylint: disable=g-import-not-at-top
  try:
    summary = run(fv.config, fv.checkpoint, fv.input, fv.output, step=fv.step,
                  start=fv.start, every_n=fv.every_n, max_frames=fv.max_frames,
                  association=fv.association, flush_every=fv.flush_every,
                  gif_frames=fv.gif_frames, overlay_video=fv.overlay)
  except (video_io.InputError, api.CheckpointError) as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  steady = summary["steady_frames_per_second"]
  steady = f", {steady:.3f} frames/s after compiling" if steady else ""
  print(f"{summary['frames']} frames at {summary['frames_per_second']:.3f} frames/s{steady} "
        f"-> {summary['output']}")
  return 0


def cli():
  """Console-script entry point (vknet-predict)."""
  sys.exit(main())


if __name__ == "__main__":
  cli()
