"""Online inference speed, and the PyTorch side-by-side anchor.

`run_inference` times what `inference.predictor.VideoPredictor` does per
frame: the model with the previous frame's kernels, the panoptic merge and
the tracker, one jitted call on device (frames/s, XLA FLOPs per frame and,
on an accelerator, MFU), the model alone on the same input, and two parts of
the frame alone on that model's outputs: the panoptic merge and the semantic
thing filter of the tracker's boxes.

With `torch_reference=True` the same run also times the test-only PyTorch
re-implementation on the same input (`benchmark_torch`): the model per
frame with the previous kernels, the online frame with the original's merge
and tracker in Python, and a forward + backward pass of a key and reference
frame with the key linked to the reference's kernels, with the same proxy
scalar loss on both sides (sum of every output times a fixed random
cotangent), stem and layer1 frozen on both sides. The printed ratios are
project / PyTorch time (below 1: the project is faster), and the online
frames/s ratio project / PyTorch (above 1: the project is faster).

Used by `python -m video_knet_jax.benchmark --mode=inference`.
"""
import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax import common
from video_knet_jax import benchmark_parts
from video_knet_jax import benchmark_torch
from video_knet_jax import train as train_lib
from video_knet_jax.inference import boxes as boxes_lib
from video_knet_jax.inference import panoptic_merge
from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.models import video_knet

def _flops(jitted, *args) -> float:
  cost = jitted.lower(*args).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))


def _proxy_loss(outputs, cotangents) -> jax.Array:
  return sum(jnp.vdot(o[k], c[k]) for o, c in zip(outputs, cotangents)
             for k in benchmark_torch.OUTPUT_KEYS)


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
  model_frame = jax.jit(lambda v, x, k: model.apply(v, x, k))
  x = jnp.asarray(image)

  # Forward + backward of a key and reference frame (key linked to the
  # reference's kernels), the proxy loss below on both sides.
  clip = rng.normal(size=(1, 2, height, width, 3)).astype(np.float32)
  outputs = jax.eval_shape(
      lambda v, c: model.apply(v, c, method=video_knet.VideoKNet.clip_forward),
      variables, clip)
  cotangents = [{k: rng.normal(size=o[k].shape).astype(np.float32) * 1e-3
                 for k in benchmark_torch.OUTPUT_KEYS} for o in outputs]

  def fwd_bwd(v, c, cot):
    grads = jax.grad(lambda p: _proxy_loss(model.apply(
        {"params": p, "batch_stats": v["batch_stats"]}, c,
        method=video_knet.VideoKNet.clip_forward), cot))(v["params"])
    return benchmark_parts.zero_frozen(grads, config)

  fwd_bwd = jax.jit(fwd_bwd)
  jax_clip, jax_cot = jnp.asarray(clip), jax.device_put(cotangents)
  project = {
      "online_frame": online_frame,
      "model_frame": lambda: jax.block_until_ready(
          model_frame(variables, x, kernels)),
      "fwd_bwd": lambda: jax.block_until_ready(
          fwd_bwd(variables, jax_clip, jax_cot)),
  }
  if torch_reference:
    # Each work item side by side in alternating rounds (load from elsewhere
    # falls on both alike).
    torch_fns, torch_info = benchmark_torch.inference_fns(
        config, image, clip, cotangents)
    result.update(torch_info)
    timings = {}
    for name, fn in project.items():
      pair = benchmark_torch.alternate(
          {"project": fn, "torch": torch_fns[name]}, steps)
      timings[name] = pair["project"]
      wall, cpu = benchmark_torch.INFERENCE_FIGURES[name]
      result[wall], result[cpu] = pair["torch"]["s_median"], pair["torch"]["cpu_s"]
    result["timing"] = "project and PyTorch in alternating rounds"
  else:
    timings = {name: benchmark_torch.timed(fn, steps)
               for name, fn in project.items()}
  online = timings["online_frame"]
  result.update({
      "online_frame_s_median": online["s_median"],
      "online_frame_s_min": online["s_min"],
      "online_cpu_s_per_frame": online["cpu_s"],
      "frames_per_s": round(1.0 / online["s_median"], 3),
      "flops_per_frame": flops,
  })
  if peak_flops:
    result["mfu"] = round(flops / online["s_median"] / peak_flops, 4)
  result["model_frame_s_median"] = timings["model_frame"]["s_median"]
  result["model_cpu_s_per_frame"] = timings["model_frame"]["cpu_s"]
  result.update(_post_processing_parts(predictor, model_frame(variables, x, kernels), hw, steps))
  result["fwd_bwd_s_median"] = timings["fwd_bwd"]["s_median"]
  result["fwd_bwd_cpu_s"] = timings["fwd_bwd"]["cpu_s"]

  if torch_reference:
    for mine, theirs, name in (
        ("model_frame_s_median", "torch_frame_s_median", "model_frame_over_torch"),
        ("online_frame_s_median", "torch_online_frame_s_median",
         "online_frame_over_torch"),
        ("fwd_bwd_s_median", "torch_fwd_bwd_s_median", "fwd_bwd_over_torch")):
      result[name] = round(result[mine] / result[theirs], 3)
    result["online_frames_per_s_over_torch"] = round(
        result["torch_online_frame_s_median"] / result["online_frame_s_median"], 3)
  return result


def _post_processing_parts(predictor, outputs, padded_hw, steps: int) -> dict:
  """Medians of the panoptic merge and the semantic thing filter, each jitted
  alone on one frame's model outputs (the full image valid)."""
  settings = predictor.merge_settings
  merge = jax.jit(lambda m, c: panoptic_merge.panoptic_merge(
      m, c, jnp.asarray(padded_hw, jnp.int32), padded_hw, settings).segment_map)
  thing_filter = jax.jit(lambda s: boxes_lib.semantic_thing_filter(
      s, padded_hw, settings.num_thing_classes))
  mask_logits, cls_logits = outputs[common.MASK_LOGITS][0], outputs[common.CLS_LOGITS][0]
  seg_logits = outputs[common.RPN_SEG_LOGITS][0]
  parts = {
      "merge": lambda: jax.block_until_ready(merge(mask_logits, cls_logits)),
      "thing_filter": lambda: jax.block_until_ready(thing_filter(seg_logits)),
  }
  return {f"{name}_s_median": benchmark_torch.timed(fn, steps)["s_median"]
          for name, fn in parts.items()}
