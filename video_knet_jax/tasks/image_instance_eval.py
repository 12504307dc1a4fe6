"""The image instance task's evaluation: COCO mask AP through pycocotools.

Each image of the split is resized as the original tests (keep ratio into
`config.data.test_scale` = (short, long), bilinear), normalised and padded
to a multiple of `config.data.size_divisor` (one compiled function per padded
size, as the original pads each image). K-Net's instance test
(`KernelIterRoIHead.simple_test`): the last stage's sigmoid class scores
flattened over (proposal, class), the top `config.inference.max_per_img`
give each result's label, score and mask; masks are upsampled to the padded
input, cropped to the resized image, resized to the original and binarised at
`config.inference.mask_thr`. The split's ground truth (RLE masks, areas,
crowd flags as stored) and these results go to pycocotools' COCOeval
('segm'); results.json is the COCO results format the evaluation server takes.
"""
import contextlib
import io
import os

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
from PIL import Image

from video_knet_jax import atomic_files
from video_knet_jax import common
from video_knet_jax import shapes
from video_knet_jax.data import coco_instance_clips
from video_knet_jax.data import prepare
from video_knet_jax.datasets.coco import facts as coco_facts
from video_knet_jax.models import video_knet

# COCOeval's summarize() order.
STAT_NAMES = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l",
              "AR1", "AR10", "AR100", "AR_s", "AR_m", "AR_l")


def test_size(height: int, width: int, test_scale) -> tuple[int, int]:
  """mmcv keep-ratio rescale of (H, W) into (short, long) = `test_scale`."""
  short, long = min(test_scale), max(test_scale)
  factor = min(long / max(height, width), short / min(height, width))
  return int(height * factor + 0.5), int(width * factor + 0.5)


def make_predict_fn(model, max_per_img: int):
  """(variables, image [1, Hp, Wp, 3]) -> (scores [K], labels [K], mask
  logits [K, Hp, Wp]) of the top K = max_per_img (proposal, class) pairs."""

  @jax.jit
  def predict(variables, image):
    out = model.apply(variables, image, train=False)
    scores = jax.nn.sigmoid(out[common.CLS_LOGITS][0].astype(jnp.float32))
    num_classes = scores.shape[-1]
    k = min(max_per_img, scores.size)
    top, index = jax.lax.top_k(scores.reshape(-1), k)
    masks = out[common.MASK_LOGITS][0][index // num_classes]     # [K, h, w]
    masks = jax.image.resize(masks.astype(jnp.float32),
                             (k, *image.shape[1:3]), "bilinear")
    return top, index % num_classes, masks

  return predict


def predict_image(predict, variables, rgb: np.ndarray, config):
  """[H, W, 3] uint8 -> (scores [K], labels [K], masks [K, H, W] bool)."""
  h0, w0 = rgb.shape[:2]
  h, w = test_size(h0, w0, config.data.test_scale)
  resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR),
                       np.float32)
  padded_hw = shapes.round_up((h, w), config.data.size_divisor)
  image = np.zeros((1, *padded_hw, 3), np.float32)
  image[0, :h, :w] = ((resized - np.asarray(config.data.mean, np.float32))
                      / np.asarray(config.data.std, np.float32))
  scores, labels, logits = jax.device_get(predict(variables, image))
  logits = tf.image.resize(logits[:, :h, :w, None], (h0, w0), "bilinear")
  masks = tf.sigmoid(logits)[..., 0].numpy() > config.inference.mask_thr
  return scores, labels, masks


def results_of_image(image_id: int, scores, labels, masks) -> list[dict]:
  """COCO results entries (RLE segmentations) of one image."""
  from pycocotools import mask as mask_utils  # pylint: disable=g-import-not-at-top
  if not len(scores):
    return []
  rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)
                                             .astype(np.uint8)))
  return [{"image_id": image_id,
           "category_id": coco_facts.THING_CATEGORY_IDS[int(label)],
           "segmentation": {"size": rle["size"],
                            "counts": rle["counts"].decode("ascii")},
           "score": float(score)}
          for score, label, rle in zip(scores, labels, rles)]


def groundtruth_of_image(ex, height: int, width: int) -> tuple[dict, list[dict]]:
  """The COCO 'images' entry and 'annotations' of one stored example."""
  image_id = int(ex["image_id"])
  image = {"id": image_id, "height": height, "width": width,
           "file_name": _text(ex["file_name"])}
  annotations = [
      {"id": int(a), "image_id": image_id,
       "category_id": coco_facts.THING_CATEGORY_IDS[int(label)],
       "segmentation": {"size": [height, width], "counts": bytes(rle).decode("ascii")},
       "area": float(area), "bbox": [float(v) for v in box],
       "iscrowd": int(crowd)}
      for a, label, rle, area, box, crowd in zip(
          ex["annotation_ids"], ex["labels"], ex["masks_rle"], ex["areas"],
          ex["boxes"], ex["is_crowd"])]
  return image, annotations


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def coco_mask_ap(groundtruth: dict, results: list[dict]) -> dict:
  """pycocotools COCOeval('segm') stats by name (-1: no such ground truth)."""
  from pycocotools import coco as coco_lib  # pylint: disable=g-import-not-at-top
  from pycocotools import cocoeval  # pylint: disable=g-import-not-at-top
  if not results:
    return {name: 0.0 for name in STAT_NAMES}
  with contextlib.redirect_stdout(io.StringIO()):
    gt = coco_lib.COCO()
    gt.dataset = groundtruth
    gt.createIndex()
    evaluator = cocoeval.COCOeval(gt, gt.loadRes(results), "segm")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def evaluate(config, variables, output_dir: str | None, options) -> dict:
  """Mask AP on `options.split` (default config.data.eval_split; its first
  `options.max_sequences` images). Writes results.json and groundtruth.json
  under `output_dir` unless `options.in_training` (None: nothing)."""
  split = options.split or config.data.eval_split
  source = coco_instance_clips.open_source(prepare.ensure_dataset(config), split)
  predict = make_predict_fn(video_knet.build_model(config),
                            int(config.inference.max_per_img))
  count = len(source) if options.max_sequences is None else min(
      len(source), options.max_sequences)
  images, annotations, results = [], [], []
  for index in range(count):
    ex = source[index]
    rgb = np.asarray(Image.open(io.BytesIO(bytes(ex["image"]))).convert("RGB"))
    image, anns = groundtruth_of_image(ex, *rgb.shape[:2])
    images.append(image)
    annotations += anns
    results += results_of_image(image["id"],
                                *predict_image(predict, variables, rgb, config))
  categories = [{"id": c[0], "name": c[1], "supercategory": c[2]}
                for c in coco_facts.THING_CATEGORIES]
  groundtruth = {"images": images, "annotations": annotations,
                 "categories": categories}
  if output_dir is not None and not options.in_training:
    atomic_files.write_json(os.path.join(output_dir, "results.json"), results)
    atomic_files.write_json(os.path.join(output_dir, "groundtruth.json"),
                            groundtruth)
  metrics = coco_mask_ap(groundtruth, results)
  metrics["num_images"] = count
  return metrics


def format_table(metrics: dict) -> str:
  names = STAT_NAMES[:6]
  return (f"mask AP over {metrics.get('num_images', '?')} images\n"
          + "  ".join(f"{n:>6s}" for n in names) + "\n"
          + "  ".join(f"{100 * metrics[n]:6.2f}" for n in names))
