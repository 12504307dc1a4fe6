"""Online inference speed, and the PyTorch side-by-side anchor.

`run_inference` times what `inference.predictor.VideoPredictor` does per
frame: the model with the previous frame's kernels, the panoptic merge and
the tracker, one jitted call on device (frames/s, XLA FLOPs per frame and,
on an accelerator, MFU), and the model alone on the same input.

With `torch_reference=True` the same run also times the test-only PyTorch
re-implementation (`tests/convert/torch_reference`, importable from a
checkout of this repository only) on the same input: the model per frame
with the previous kernels (inference) and a forward + backward pass of a
key and reference frame with the key linked to the reference's kernels,
with the same scalar loss on both sides (sum of every output times a fixed
random cotangent; no matching or real losses, which the reference does not
have), stem and layer1 frozen on both sides. The printed ratios are
project / PyTorch time (below 1: the project is faster).

Used by `python -m video_knet_jax.benchmark --mode=inference`.
"""
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax import common
from video_knet_jax import benchmark_parts
from video_knet_jax import train as train_lib
from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.models import video_knet

OUTPUT_KEYS = (common.RPN_MASK_LOGITS, common.RPN_SEG_LOGITS,
               common.STAGE_MASK_LOGITS, common.STAGE_CLS_LOGITS,
               common.KERNELS, common.TRACK_KERNELS, common.TRACK_EMBEDDINGS)


def _timed(fn, steps: int) -> dict:
  """Median / min wall and CPU seconds of `fn()` (which must block)."""
  fn()  # Warm-up.
  times = []
  cpu_start = time.process_time()
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return {"s_median": round(statistics.median(times), 4),
          "s_min": round(min(times), 4),
          "cpu_s": round((time.process_time() - cpu_start) / steps, 4)}


def _flops(jitted, *args) -> float:
  cost = jitted.lower(*args).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))


def _proxy_loss(outputs, cotangents) -> jax.Array:
  return sum(jnp.vdot(o[k], c[k]) for o, c in zip(outputs, cotangents)
             for k in OUTPUT_KEYS)


def run_inference(config, height: int, width: int, steps: int,
                  torch_reference: bool = False,
                  peak_flops: float | None = None) -> dict:
  """Times online inference (and PyTorch side by side); returns figures."""
  config.data.crop_size = (height, width)
  config.data.eval_size = (height, width)
  model = video_knet.build_model(config)
  variables = jax.jit(lambda r: train_lib.init_variables(model, config, r))(
      jax.random.key(0))
  predictor = predictor_lib.VideoPredictor(model, variables, config)
  rng = np.random.default_rng(0)
  image = rng.normal(size=(1, height, width, 3)).astype(np.float32)
  hw = (height, width)

  # Frame 0 (no previous kernels), then the steady state that is timed.
  _, _, kernels, tracker = predictor.step(
      image, hw, None, predictor.init_tracker_state(hw), 0)
  frame = [1, tracker]

  def online_frame():
    semantic, ids, _, frame[1] = predictor.step(image, hw, kernels, frame[1],
                                                frame[0])
    frame[0] += 1
    jax.block_until_ready((semantic, ids))

  device = jax.devices()[0]
  result = {"device": device.device_kind, "height": height, "width": width,
            "dtype": str(config.model.get("dtype", "float32"))}
  flops = _flops(predictor._step, variables, jnp.asarray(image),  # pylint: disable=protected-access
                 jnp.asarray(hw, jnp.int32), kernels, tracker,
                 jnp.asarray(1, jnp.int32))
  online = _timed(online_frame, steps)
  result.update({
      "online_frame_s_median": online["s_median"],
      "online_frame_s_min": online["s_min"],
      "online_cpu_s_per_frame": online["cpu_s"],
      "frames_per_s": round(1.0 / online["s_median"], 3),
      "flops_per_frame": flops,
  })
  if peak_flops:
    result["mfu"] = round(flops / online["s_median"] / peak_flops, 4)

  model_frame = jax.jit(lambda v, x, k: model.apply(v, x, k))
  x = jnp.asarray(image)
  model_only = _timed(
      lambda: jax.block_until_ready(model_frame(variables, x, kernels)), steps)
  result["model_frame_s_median"] = model_only["s_median"]
  result["model_cpu_s_per_frame"] = model_only["cpu_s"]

  # Forward + backward of a key and reference frame (key linked to the
  # reference's kernels), the proxy loss below on both sides.
  clip = rng.normal(size=(1, 2, height, width, 3)).astype(np.float32)
  outputs = jax.eval_shape(
      lambda v, c: model.apply(v, c, method=video_knet.VideoKNet.clip_forward),
      variables, clip)
  cotangents = [{k: rng.normal(size=o[k].shape).astype(np.float32) * 1e-3
                 for k in OUTPUT_KEYS} for o in outputs]

  def fwd_bwd(v, c, cot):
    grads = jax.grad(lambda p: _proxy_loss(model.apply(
        {"params": p, "batch_stats": v["batch_stats"]}, c,
        method=video_knet.VideoKNet.clip_forward), cot))(v["params"])
    return benchmark_parts.zero_frozen(grads, config)

  fwd_bwd = jax.jit(fwd_bwd)
  jax_clip, jax_cot = jnp.asarray(clip), jax.device_put(cotangents)
  grad_step = _timed(
      lambda: jax.block_until_ready(fwd_bwd(variables, jax_clip, jax_cot)),
      steps)
  result["fwd_bwd_s_median"] = grad_step["s_median"]
  result["fwd_bwd_cpu_s"] = grad_step["cpu_s"]

  if torch_reference:
    result.update(_torch_side(config, image, clip, cotangents, steps))
    result["model_frame_over_torch"] = round(
        result["model_frame_s_median"] / result["torch_frame_s_median"], 3)
    result["fwd_bwd_over_torch"] = round(
        result["fwd_bwd_s_median"] / result["torch_fwd_bwd_s_median"], 3)
  return result


def _torch_side(config, image, clip, cotangents, steps) -> dict:
  """The PyTorch reference on the same inputs (random weights)."""
  import torch  # pylint: disable=g-import-not-at-top
  try:
    from tests.convert.torch_reference import video_knet as torch_knet  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("--torch_reference imports tests/convert/torch_reference:"
                      " run the benchmark from the repository root.") from e
  m = config.model
  if m.backbone.name != "resnet" or int(m.backbone.frozen_stages) != 1:
    raise ValueError("--torch_reference times the R50 reference (stem + "
                     "layer1 frozen); config.model.backbone differs.")
  hp = torch_knet.Hparams(
      stage_blocks=tuple(m.backbone.stage_blocks),
      base_width=m.backbone.base_width, channels=m.feat_channels,
      num_proposals=m.num_proposals,
      num_classes=m.num_thing_classes + m.num_stuff_classes,
      num_thing_classes=m.num_thing_classes, num_stages=m.num_stages)
  torch.manual_seed(0)
  model = torch_knet.VideoKNet(hp).eval()   # BN statistics frozen (norm_eval).
  for name, param in model.named_parameters():
    if name.startswith(("backbone.conv1", "backbone.bn1", "backbone.layer1")):
      param.requires_grad_(False)
  frame = torch.from_numpy(image).permute(0, 3, 1, 2).contiguous()
  with torch.no_grad():
    kernels = model(frame)[common.KERNELS]

  def inference():
    with torch.no_grad():
      model(frame, kernels)

  inf = _timed(inference, steps)
  frames = torch.from_numpy(clip).permute(0, 1, 4, 2, 3).contiguous()
  cot = [{k: torch.from_numpy(np.asarray(v)) for k, v in c.items()}
         for c in cotangents]

  def fwd_bwd():
    model.zero_grad(set_to_none=True)
    ref = model(frames[:, 1])
    key = model(frames[:, 0], ref[common.KERNELS])
    loss = sum((o[k] * c[k]).sum() for o, c in zip((key, ref), cot)
               for k in OUTPUT_KEYS)
    loss.backward()

  grad = _timed(fwd_bwd, steps)
  return {"torch_version": torch.__version__,
          "torch_threads": torch.get_num_threads(),
          "torch_frame_s_median": inf["s_median"],
          "torch_cpu_s_per_frame": inf["cpu_s"],
          "torch_fwd_bwd_s_median": grad["s_median"],
          "torch_fwd_bwd_cpu_s": grad["cpu_s"]}
