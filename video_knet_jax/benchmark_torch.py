"""The PyTorch side of the side-by-side benchmarks (test-only reference model).

Times, on the inputs the project's side gets, the PyTorch re-implementation
of the original in `tests/convert/torch_reference` (importable from a
checkout of this repository only; random weights, stem and layer1 frozen,
BatchNorm statistics frozen, torch's default threads):

  train_step    forward of a reference and a key frame (key linked to the
                reference's kernels), the original's losses written the way
                it computes them (`torch_reference/losses.py`: per-image
                loops, scipy Hungarian), backward, gradient clipping and
                AdamW with the backbone's lr multiplier.
  model frame   the network on one frame with the previous kernels.
  online frame  the same plus the original's panoptic merge, semantic filter,
                boxes and quasi-dense tracker in Python
                (`torch_reference/online.py`).
  fwd_bwd       forward + backward of a key + reference clip with a proxy
                loss (sum of every output times a fixed random cotangent).

`alternate` times the project's side and this one in alternating rounds in
one process, so that load from elsewhere on a shared machine falls on both
alike. Used by `python -m video_knet_jax.benchmark --torch_reference`.
"""
import statistics
import time

import numpy as np

from video_knet_jax import common

OUTPUT_KEYS = (common.RPN_MASK_LOGITS, common.RPN_SEG_LOGITS,
               common.STAGE_MASK_LOGITS, common.STAGE_CLS_LOGITS,
               common.KERNELS, common.TRACK_KERNELS, common.TRACK_EMBEDDINGS)


def timed(fn, steps: int) -> dict:
  """Median / min wall and CPU seconds of `fn()` (which must block)."""
  return alternate({"fn": fn}, steps)["fn"]


def alternate(fns: dict, steps: int) -> dict:
  """Times every `fns[name]()` (which must block) in alternating rounds.

  Each is called once to warm up, then round after round one after the
  other, so that load from elsewhere on a shared machine falls on every side
  alike. Returns {name: {s_median, s_min, cpu_s}}: the median / min wall
  seconds and the mean process CPU seconds (all threads) of its calls.
  """
  for fn in fns.values():
    fn()  # Warm-up.
  times = {name: [] for name in fns}
  cpu = dict.fromkeys(fns, 0.0)
  for _ in range(steps):
    for name, fn in fns.items():
      cpu_start, start = time.process_time(), time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
      cpu[name] += time.process_time() - cpu_start
  return {name: {"s_median": round(statistics.median(t), 4),
                 "s_min": round(min(t), 4),
                 "cpu_s": round(cpu[name] / steps, 4)}
          for name, t in times.items()}


def _reference():
  try:
    # pylint: disable=g-import-not-at-top
    from tests.convert.torch_reference import losses
    from tests.convert.torch_reference import online
    from tests.convert.torch_reference import video_knet
  except ImportError as e:
    raise ImportError("--torch_reference imports tests/convert/torch_reference:"
                      " run the benchmark from the repository root.") from e
  return losses, online, video_knet


def build_model(config):
  """The R50 reference model with random weights (stem + layer1 frozen, BN frozen)."""
  import torch  # pylint: disable=g-import-not-at-top
  _, _, torch_knet = _reference()
  m = config.model
  if m.backbone.name != "resnet" or int(m.backbone.frozen_stages) != 1:
    raise ValueError("--torch_reference times the R50 reference (stem + "
                     "layer1 frozen); config.model.backbone differs.")
  hp = torch_knet.Hparams(
      stage_blocks=tuple(m.backbone.stage_blocks),
      base_width=m.backbone.base_width, channels=m.feat_channels,
      num_proposals=m.num_proposals,
      num_classes=m.num_thing_classes + m.num_stuff_classes,
      num_thing_classes=m.num_thing_classes, num_stages=m.num_stages,
      groups=m.semantic_fpn.num_groups, pe_num_feats=m.semantic_fpn.pe_num_feats,
      pe_temperature=m.semantic_fpn.pe_temperature,
      heads=m.update_head.num_heads, ffn=m.update_head.ffn_channels,
      num_cls_fcs=m.update_head.num_cls_fcs,
      num_mask_fcs=m.update_head.num_mask_fcs, mask_thr=m.update_head.mask_thr,
      embed_channels=m.temporal.embed_channels,
      track_num_fcs=m.temporal.track_num_fcs)
  torch.manual_seed(0)
  model = torch_knet.VideoKNet(hp).eval()   # BN statistics frozen (norm_eval).
  for name, param in model.named_parameters():
    if name.startswith(("backbone.conv1", "backbone.bn1", "backbone.layer1")):
      param.requires_grad_(False)
  return model


def _frames(images):
  """[B, (T,) H, W, 3] numpy -> torch NCHW."""
  import torch  # pylint: disable=g-import-not-at-top
  x = torch.from_numpy(np.ascontiguousarray(images))
  return x.permute(0, 1, 4, 2, 3).contiguous() if x.ndim == 5 else (
      x.permute(0, 3, 1, 2).contiguous())


def _optimizer(model, config):
  """AdamW with the recipe's groups (backbone lr x mult), weight decay on all."""
  import torch  # pylint: disable=g-import-not-at-top
  o = config.optim
  backbone = [p for n, p in model.named_parameters()
              if p.requires_grad and n.startswith("backbone.")]
  rest = [p for n, p in model.named_parameters()
          if p.requires_grad and not n.startswith("backbone.")]
  return torch.optim.AdamW(
      [{"params": backbone, "lr": o.lr * o.backbone_lr_mult},
       {"params": rest, "lr": o.lr}], lr=o.lr, weight_decay=o.weight_decay)


def train_step(config, host_batch):
  """The original's training step on `host_batch` (random_batch layout).

  Returns (step, info): `step()` runs one step (forward of the reference and
  key frames, losses, backward, clipping, AdamW); `info` holds the torch
  version, its threads and, after a step, the last loss.
  """
  import torch  # pylint: disable=g-import-not-at-top
  losses, _, _ = _reference()
  model = build_model(config)
  opt = _optimizer(model, config)
  hp = losses.LossHparams.from_config(config)
  frames = _frames(host_batch[common.IMAGE])
  params = [p for p in model.parameters() if p.requires_grad]
  info = {"torch_version": torch.__version__,
          "torch_threads": torch.get_num_threads()}

  def step():
    opt.zero_grad(set_to_none=True)
    ref = model(frames[:, 1])
    key = model(frames[:, 0], ref[common.KERNELS])
    total, _ = losses.clip_loss(key, ref, host_batch, hp)
    total.backward()
    torch.nn.utils.clip_grad_norm_(params, config.optim.clip_norm)
    opt.step()
    info["torch_loss"] = float(total.detach())

  return step, info


def train_step_figures(t: dict, info: dict) -> dict:
  """The `torch_*` figures of a timed `train_step`."""
  return {**info, "torch_step_s_median": t["s_median"],
          "torch_step_s_min": t["s_min"], "torch_cpu_s_per_step": t["cpu_s"]}


def inference_fns(config, image, clip, cotangents):
  """The PyTorch side of `--mode=inference`, as blocking callables.

  Returns (fns, info): fns["model_frame"] (the network on one frame with the
  previous kernels), fns["online_frame"] (the same plus the original's merge,
  semantic filter, boxes and tracker, frame after frame) and fns["fwd_bwd"]
  (forward + backward of a key + reference clip with the proxy loss).
  """
  import torch  # pylint: disable=g-import-not-at-top
  _, online, _ = _reference()
  model = build_model(config)
  frame = _frames(image)
  hw = tuple(image.shape[1:3])
  with torch.no_grad():
    kernels = model(frame)[common.KERNELS]

  def model_frame():
    with torch.no_grad():
      model(frame, kernels)

  frames = online.OnlineFrames(online.OnlineHparams.from_config(config))
  state = {"kernels": None, "frame": 0}

  def online_frame():
    with torch.no_grad():
      out = model(frame, state["kernels"])
    state["kernels"] = out[common.KERNELS]
    frames.postprocess(out, hw, hw, state["frame"])
    state["frame"] += 1

  clip_t = _frames(clip)
  cot = [{k: torch.from_numpy(np.asarray(v)) for k, v in c.items()}
         for c in cotangents]

  def fwd_bwd():
    model.zero_grad(set_to_none=True)
    ref = model(clip_t[:, 1])
    key = model(clip_t[:, 0], ref[common.KERNELS])
    loss = sum((o[k] * c[k]).sum() for o, c in zip((key, ref), cot)
               for k in OUTPUT_KEYS)
    loss.backward()

  info = {"torch_version": torch.__version__,
          "torch_threads": torch.get_num_threads()}
  return ({"model_frame": model_frame, "online_frame": online_frame,
           "fwd_bwd": fwd_bwd}, info)


# inference_fns name -> the figures' names (median wall s, CPU s).
INFERENCE_FIGURES = {
    "model_frame": ("torch_frame_s_median", "torch_cpu_s_per_frame"),
    "online_frame": ("torch_online_frame_s_median",
                     "torch_online_cpu_s_per_frame"),
    "fwd_bwd": ("torch_fwd_bwd_s_median", "torch_fwd_bwd_cpu_s"),
}

