"""Training and evaluating KNetTrack on YouTube-VIS-format data.

The same pieces as train_lib (TrainState, the AdamW groups of optim, the
'data' mesh with replicated state and a batch split over devices, Orbax
checkpoints that resume) around the clip-level model and its loss
(losses/clip_loss.py); data from datasets/youtube_vis via data/vis_clips.py.
`evaluate` runs whole-video inference on the local val split, scores it with
evaluation/ytvis_ap (the official cocoapi's AP / AR), writes the benchmark
server's results JSON and one picture per video of its top tracks.
"""
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from PIL import Image
from pycocotools import mask as mask_utils

from video_knet_jax.datasets.youtube_vis import prepare as ytvis_prepare
from video_knet_jax import atomic_files
from video_knet_jax import checkpointing
from video_knet_jax import optim
from video_knet_jax import sharding
from video_knet_jax import train_lib
from video_knet_jax.data import vis_clips
from video_knet_jax.evaluation import ytvis_ap
from video_knet_jax.inference import vis_inference
from video_knet_jax.inference import visualize
from video_knet_jax.losses import clip_loss
from video_knet_jax.models import knet_track

RESULTS_DIR = "eval_youtube_vis"


def _with_train_frames(config, builder) -> ml_collections.ConfigDict:
  """config.train.num_train_frames from the built train split when -1."""
  if config.train.num_train_frames > 0:
    return config
  config = ml_collections.ConfigDict(config.to_dict())
  config.train.num_train_frames = builder.info.splits["train"].num_examples
  return config


def create_train_state(config, model, mesh, rng):
  clip = jnp.zeros((1, config.data.clip_length, *config.data.canvas, 3))

  def init_state(rng):
    variables = model.init(rng, clip)
    return train_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=variables["params"],
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(variables["params"]))

  abstract_params = jax.eval_shape(model.init, rng, clip)["params"]
  tx = optim.make_optimizer(config, abstract_params,
                            train_lib.frozen_filter(config))
  abstract = jax.eval_shape(init_state, rng)
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), abstract)
  state = jax.jit(init_state, out_shardings=state_sharding)(rng)
  return state, tx, state_sharding


def make_train_step(config, model, tx):
  if not config.model.backbone.get("norm_eval", True):  # Swin has no BN.
    raise ValueError("KNetTrack training keeps BatchNorm frozen "
                     "(config.model.backbone.norm_eval=True), as the original.")
  schedule = optim.learning_rate_schedule(config)

  def loss_fn(params, batch_stats, batch, rng):
    out = model.apply({"params": params, "batch_stats": batch_stats},
                      batch[vis_clips.IMAGE], train=True,
                      rngs={"dropout": rng})  # Swin drop path.
    return clip_loss.knet_track_loss(out, batch, config)

  def train_step(state, batch):
    rng = jax.random.fold_in(jax.random.key(config.seed), state.step)
    (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.batch_stats, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    measurements = dict(parts, loss=loss, learning_rate=schedule(state.step))
    # As the other tasks log them (frozen backbone stages excluded).
    measurements["grad_norm"] = optax.global_norm(
        train_lib._mask_frozen(grads, config))  # pylint: disable=protected-access
    measurements["param_norm"] = optax.global_norm(params)
    return state.replace(step=state.step + 1, params=params,
                         opt_state=opt_state), measurements

  return train_step


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (resuming from `workdir`), then evaluates on the local val split."""
  os.makedirs(workdir, exist_ok=True)
  builder = ytvis_prepare.ensure_dataset(config)
  config = _with_train_frames(config, builder)
  mesh = sharding.make_mesh(config.mesh)
  per_host = sharding.check_batch_size(config.train.batch_size, mesh)
  model = knet_track.build_model(config)
  state, tx, state_sharding = create_train_state(
      config, model, mesh, jax.random.key(config.seed))
  checkpointer = checkpointing.TrainCheckpointer(
      workdir, save_every_steps=config.train.checkpoint_every_steps,
      keep=config.train.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        state)
    state, _ = checkpointer.restore(abstract)
  start = int(state.step)
  num_steps = optim.total_steps(config)
  step_fn = train_lib.jit_train_step(make_train_step(config, model, tx),
                                     state_sharding, mesh)
  source = builder.as_data_source(split=config.data.train_split)
  batches = vis_clips.batches(source, config, per_host, seed=config.seed,
                              start_step=start,
                              process_index=jax.process_index(),
                              process_count=jax.process_count())
  last = {}
  for step in range(start + 1, num_steps + 1):
    state, measurements = step_fn(state, sharding.put_batch(next(batches), mesh))
    if step % config.train.log_every_steps == 0 or step == num_steps:
      last = {k: float(v) for k, v in jax.device_get(measurements).items()}
      if not np.isfinite(last["loss"]):
        raise FloatingPointError(f"Loss is {last['loss']} at step {step}.")
      logging.info("step %d/%d  loss %.4f", step, num_steps, last["loss"])
      print(f"step {step}/{num_steps}  loss {last['loss']:.4f}", flush=True)
    checkpointer.save(step, state, meta={"step": step, "skipped_steps": 0},
                      force=step == num_steps)
  checkpointer.close()
  return last


def groundtruth_json(source, spans) -> dict[str, Any]:
  """YouTube-VIS annotation JSON of a (local) split, for ytvis_ap."""
  videos, annotations = [], []
  for span in spans:
    video = vis_clips.VideoFrames(source, span)     # one frame in memory at a time.
    t, h, w = video.shape[:3]
    file_names = []
    videos.append({"id": span[0], "height": h, "width": w, "length": t,
                   "file_names": file_names})
    by_id: dict[int, dict] = {}
    for f in range(t):
      ex = video.example(f)
      file_names.append(ex["file_name"].decode()
                        if isinstance(ex["file_name"], bytes)
                        else str(ex["file_name"]))
      for k, inst in enumerate(ex["instance_ids"].tolist()):
        entry = by_id.setdefault(inst, {
            "id": inst, "video_id": span[0],
            "category_id": int(ex["labels"][k]) + 1,
            "iscrowd": int(ex["is_crowd"][k]), "segmentations": [None] * t,
            "areas": [None] * t, "height": h, "width": w, "length": t})
        rle = mask_utils.encode(np.asfortranarray(ex["masks"][k]))
        entry["segmentations"][f] = {"size": [h, w],
                                     "counts": rle["counts"].decode("ascii")}
        entry["areas"][f] = int(ex["masks"][k].sum())
    annotations += list(by_id.values())
  from video_knet_jax.datasets.youtube_vis import facts  # pylint: disable=g-import-not-at-top
  categories = [{"id": k + 1, "name": n, "supercategory": "object"}
                for k, n in enumerate(facts.CLASS_NAMES_2019)]
  return {"videos": videos, "annotations": annotations,
          "categories": categories}


def evaluate(config, workdir: str, step: int | None = None) -> dict:
  """AP / AR on config.data.eval_split; writes results.json + metrics.json."""
  builder = ytvis_prepare.ensure_dataset(config)
  model = knet_track.build_model(config)
  variables = checkpointing.load_train_variables(workdir, step)
  predict_fn = vis_inference.make_predict_fn(
      model, int(config.inference.get("frame_chunk", 0)))
  source = builder.as_data_source(split=config.data.eval_split)
  spans = vis_clips.video_spans(source)
  results = []
  out_dir = os.path.join(workdir, RESULTS_DIR)
  os.makedirs(os.path.join(out_dir, "pictures"), exist_ok=True)
  for span in spans:
    # Frames are decoded per chunk when the bounded pass asks for them.
    frames = vis_clips.VideoFrames(source, span)
    video_results = vis_inference.predict_video(predict_fn, variables, frames,
                                                span[0], config)
    results += video_results
    Image.fromarray(picture(frames, video_results)).save(
        os.path.join(out_dir, "pictures", f"{span[0]}.png"))
  atomic_files.write_json(os.path.join(out_dir, "results.json"), results)
  metrics = {}
  if config.data.eval_split != "valid":    # the server's split has no labels.
    gt = groundtruth_json(source, spans)
    atomic_files.write_json(os.path.join(out_dir, "groundtruth.json"), gt)
    stats = ytvis_ap.YouTubeVISEval(gt).evaluate(results)["stats"]
    metrics = {k: float(v) for k, v in dict(stats).items()}
    atomic_files.write_json(os.path.join(out_dir, "metrics.json"), metrics,
                            indent=2)
  return metrics


def picture(frames, results: list[dict], num_tracks: int = 3,
            max_frames: int = 8) -> np.ndarray:
  """At most `max_frames` evenly spaced frames side by side with the top
  `num_tracks` results painted on, each track in its own colour on every
  frame: [H, min(T, max_frames) * W, 3] uint8. `frames` is [T, H, W, 3]
  (an array or a vis_clips.VideoFrames)."""
  shown = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)
                                ).round().astype(int))
  out = np.stack([frames[int(f)] for f in shown]).astype(np.float32)
  top = sorted(results, key=lambda r: -r["score"])[:num_tracks]
  colors = visualize.track_colors(np.arange(1, len(top) + 1)).astype(np.float32)
  for color, r in zip(colors, top):
    for i, f in enumerate(shown):
      seg = r["segmentations"][f]
      if seg is None:
        continue
      m = mask_utils.decode({"size": seg["size"],
                             "counts": seg["counts"].encode()}).astype(bool)
      out[i][m] = 0.5 * out[i][m] + 0.5 * color
  return np.concatenate(list(out.astype(np.uint8)), axis=1)


def format_table(metrics: dict) -> str:
  names = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l", "AR1", "AR10")
  return ("  ".join(f"{n:>6s}" for n in names) + "\n"
          + "  ".join(f"{100 * metrics[n]:6.2f}" for n in names))
