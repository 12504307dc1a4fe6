"""Small random panoptic videos with void, crowd, appearing/disappearing tubes."""
import numpy as np


def blocky(rng, shape, values, block=2):
  h, w = shape
  small = rng.choice(values, size=(-(-h // block), -(-w // block)))
  return np.kron(small, np.ones((block, block), small.dtype))[:h, :w]


def random_video(rng, num_frames, shape=(6, 8), num_classes=5, things=(2, 3),
                 ignore_label=255, divisor=1000, p_void=0.1, max_inst=3):
  """(gt frames, pred frames) lists of [H, W] int64 panoptic ids."""
  gts, preds = [], []
  classes = np.arange(num_classes)
  for _ in range(num_frames):
    sem = blocky(rng, shape, classes, block=int(rng.integers(1, 4)))
    sem = np.where(rng.random(shape) < p_void, ignore_label, sem)
    inst = blocky(rng, shape, np.arange(0, max_inst + 1), block=int(rng.integers(1, 4)))
    inst = np.where(np.isin(sem, things), inst, 0)
    gt = sem * divisor + inst
    pred = gt.copy()
    # Perturb: relabel some pixels, swap some instance ids, predict void.
    noise = rng.random(shape)
    pred_sem = np.where(noise < 0.2, rng.integers(0, num_classes, shape), pred // divisor)
    pred_sem = np.where(pred_sem == ignore_label, rng.integers(0, num_classes, shape), pred_sem)
    pred_sem = np.where(noise > 0.95, ignore_label, pred_sem)
    pred_inst = np.where(rng.random(shape) < 0.2, rng.integers(0, max_inst + 2, shape),
                         pred % divisor)
    if rng.random() < 0.3:
      pred_inst = (pred_inst + 1) % (max_inst + 2)
    pred_inst = np.where(np.isin(pred_sem, things), pred_inst, 0)
    pred = pred_sem * divisor + pred_inst
    gts.append(gt.astype(np.int64))
    preds.append(pred.astype(np.int64))
  return gts, preds


def to_coco(ids, divisor, things, ignore_label, is_gt):
  """Divisor-form ids -> (COCO segment id map, segments_info list).

  Segment id = panoptic id + 1 (0 stays VOID for class ignore_label); gt thing
  pixels with instance 0 become the crowd segment of their class.
  """
  out = np.zeros(ids.shape, np.int64)
  segments = []
  for v in np.unique(ids).tolist():
    sem, inst = v // divisor, v % divisor
    if sem == ignore_label:
      continue
    sid = v + 1
    mask = ids == v
    out[mask] = sid
    segments.append({"id": sid, "category_id": sem, "area": int(mask.sum()),
                     "iscrowd": int(is_gt and sem in things and inst == 0)})
  return out, segments
