"""Slow, obviously-correct metric implementations used only as test oracles.

Each walks pixels (or segments) one at a time with Python dicts, following the
reference scripts' procedure step by step (metrics_and_datasets.md section 2),
so that the vectorised code in video_knet_jax.evaluation can be checked on many
random cases.
"""
import collections
import math

import numpy as np


# ------------------------------------------------------------------------ STQ

def slow_stq(frames, num_classes, things, ignore_label, divisor, drop_void=False):
  """frames: list of (gt [H, W], pred [H, W], sequence_id); deeplab2 STQ."""
  size = num_classes + 1 if ignore_label >= num_classes else num_classes
  void_row = num_classes if ignore_label >= num_classes else ignore_label
  conf = collections.OrderedDict()
  gt_tubes, pred_tubes, inter = {}, {}, {}
  for gt, pred, seq in frames:
    if seq not in conf:
      conf[seq] = [[0] * size for _ in range(size)]
      gt_tubes[seq], pred_tubes[seq], inter[seq] = {}, {}, {}
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
      gs, ps = g // divisor, p // divisor
      if drop_void and gs == ignore_label:
        continue
      gr = num_classes if (ignore_label > num_classes and gs == ignore_label) else gs
      pc = num_classes if (ignore_label > num_classes and ps == ignore_label) else ps
      conf[seq][gr][pc] += 1
      crowd = gs in things and g % divisor == 0
      if gs in things and not crowd:
        gt_tubes[seq][g] = gt_tubes[seq].get(g, 0) + 1
      if ps in things and not crowd:
        pred_tubes[seq][p] = pred_tubes[seq].get(p, 0) + 1
      if gs in things and not crowd and ps in things:
        inter[seq][g, p] = inter[seq].get((g, p), 0) + 1

  def mean_iou(m):
    m = [row[:] for row in m]
    m[void_row] = [0] * size
    total, n = 0.0, 0
    for c in range(size):
      tp = m[c][c]
      fp = sum(m[r][c] for r in range(size)) - tp
      fn = sum(m[c]) - tp
      if tp + fp + fn > 0:
        n += 1
        total += tp / (tp + fp + fn)
    return total / n if n else float("nan")

  aq_sum, tubes = 0.0, 0
  total = [[0] * size for _ in range(size)]
  per_seq = {}
  for seq in conf:
    for r in range(size):
      for c in range(size):
        total[r][c] += conf[seq][r][c]
    outer = 0.0
    for g, gsize in gt_tubes[seq].items():
      inner = 0.0
      for p, psize in pred_tubes[seq].items():
        tpa = inter[seq].get((g, p), 0)
        if tpa:
          inner += tpa * tpa / (tpa + (psize - tpa) + (gsize - tpa))
      outer += inner / gsize
    aq_sum += outer
    tubes += len(gt_tubes[seq])
    n_t = len(gt_tubes[seq])
    per_seq[seq] = (outer / n_t if n_t else 0.0, mean_iou(conf[seq]))
  aq = aq_sum / tubes if tubes else 0.0
  iou = mean_iou(total)
  return {"STQ": math.sqrt(aq * iou) if not math.isnan(iou) else float("nan"),
          "AQ": aq, "IoU": iou, "per_seq": per_seq}


# ---------------------------------------------- VPQ, Video K-Net STEP script

def _pixel_areas(ids):
  out = {}
  for v in ids.ravel().tolist():
    out[v] = out.get(v, 0) + 1
  return out


def slow_vpq_video_knet_window(gt, pred, num_classes, ignore_label, divisor):
  """One stacked window, tools/eval_dvpq_step.py rules; returns 4 lists."""
  iou = [0.0] * num_classes
  tp = [0] * num_classes
  fn = [0] * num_classes
  fp = [0] * num_classes
  gt_areas = _pixel_areas(gt)
  pred_areas = _pixel_areas(pred)
  int_areas = {}
  for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
    int_areas[g, p] = int_areas.get((g, p), 0) + 1
  void_id = ignore_label * divisor
  ign_ids = [g for g in gt_areas if g // divisor == ignore_label]
  gt_matched, pred_matched = set(), set()
  for (g, p), a in int_areas.items():
    if g // divisor != p // divisor or p // divisor == ignore_label:
      continue
    union = gt_areas[g] + pred_areas[p] - a - int_areas.get((void_id, p), 0)
    v = a / union
    if v > 0.5:
      tp[g // divisor] += 1
      iou[g // divisor] += v
      gt_matched.add(g)
      pred_matched.add(p)
  for g in gt_areas:
    if g in gt_matched or g // divisor == ignore_label:
      continue
    fn[g // divisor] += 1
  for p in pred_areas:
    if p in pred_matched or p // divisor == ignore_label:
      continue
    ign = sum(int_areas.get((g, p), 0) for g in ign_ids)
    if ign / pred_areas[p] > 0.5:
      continue
    fp[p // divisor] += 1
  return iou, tp, fn, fp


def slow_vpq_video_knet(sequences, n, num_classes, things, ignore_label, divisor):
  """sequences: list of lists of (gt, pred); PQ (All, Things, Stuff) for window n."""
  tot = [[0.0] * num_classes for _ in range(4)]
  for frames in sequences:
    for i in range(len(frames) - n + 1):
      gt = np.concatenate([f[0] for f in frames[i:i + n]], axis=1)
      pred = np.concatenate([f[1] for f in frames[i:i + n]], axis=1)
      res = slow_vpq_video_knet_window(gt, pred, num_classes, ignore_label, divisor)
      for k in range(4):
        for c in range(num_classes):
          tot[k][c] += res[k][c]
  iou, tp, fn, fp = tot
  eps = 1e-10
  pq = [(iou[c] / (tp[c] + eps)) * (tp[c] / (tp[c] + 0.5 * fn[c] + 0.5 * fp[c] + eps))
        for c in range(num_classes)]
  th = [pq[c] for c in range(num_classes) if c in things]
  st = [pq[c] for c in range(num_classes) if c not in things]
  return sum(pq) / len(pq), sum(th) / len(th), sum(st) / len(st)


# ------------------------------------------------- panopticapi PQ / VPSNet VPQ

class _Cat:
  def __init__(self):
    self.iou, self.tp, self.fp, self.fn = 0.0, 0, 0, 0


def slow_vpsnet_window(frames, stats):
  """frames: list of (gt_ids, gt_segms dict id->dict, pred_ids, pred_segms
  dict id->dict); the dicts are the *shared, mutable* per-frame segment dicts,
  mutated exactly like VPSNet's eval_vpq.py does."""
  vid_gt, vid_pred = {}, {}
  for gt_ids, gt_segms, pred_ids, pred_segms in frames:
    for sid, cnt in _pixel_areas(pred_ids).items():   # areas from the PNG
      if sid != 0:
        pred_segms[sid]["area"] = cnt
  for gt_ids, gt_segms, pred_ids, pred_segms in frames:
    for k in gt_segms:
      if k not in vid_gt:
        vid_gt[k] = gt_segms[k]
      else:
        vid_gt[k]["area"] += gt_segms[k]["area"]
    for k in pred_segms:
      if k not in vid_pred:
        vid_pred[k] = pred_segms[k]
      else:
        vid_pred[k]["area"] += pred_segms[k]["area"]
  gt_all = np.concatenate([f[0] for f in frames], axis=1)
  pred_all = np.concatenate([f[2] for f in frames], axis=1)
  pairs = {}
  for g, p in zip(gt_all.ravel().tolist(), pred_all.ravel().tolist()):
    pairs[g, p] = pairs.get((g, p), 0) + 1
  gt_matched, pred_matched = set(), set()
  for (g, p), inter in sorted(pairs.items()):
    if g not in vid_gt or p not in vid_pred:
      continue
    if vid_gt[g]["iscrowd"] == 1:
      continue
    if vid_gt[g]["category_id"] != vid_pred[p]["category_id"]:
      continue
    union = vid_pred[p]["area"] + vid_gt[g]["area"] - inter - pairs.get((0, p), 0)
    iou = inter / union
    if iou > 0.5:
      stats[vid_gt[g]["category_id"]].tp += 1
      stats[vid_gt[g]["category_id"]].iou += iou
      gt_matched.add(g)
      pred_matched.add(p)
  crowd = {}
  for g, info in vid_gt.items():
    if g in gt_matched:
      continue
    if info["iscrowd"] == 1:
      crowd[info["category_id"]] = g
      continue
    stats[info["category_id"]].fn += 1
  for p, info in vid_pred.items():
    if p in pred_matched:
      continue
    inter = pairs.get((0, p), 0)
    if info["category_id"] in crowd:
      inter += pairs.get((crowd[info["category_id"]], p), 0)
    if inter / info["area"] > 0.5:
      continue
    stats[info["category_id"]].fp += 1


def slow_pq_average(stats, categories, isthing=None):
  pq, n = 0.0, 0
  for c in categories:
    if isthing is not None and (c["isthing"] == 1) != isthing:
      continue
    s = stats[c["id"]]
    if s.tp + s.fp + s.fn == 0:
      continue
    n += 1
    pq += s.iou / (s.tp + 0.5 * s.fp + 0.5 * s.fn)
  return pq / n if n else float("nan")


def slow_vpsnet_vpq(videos, categories, n, aliasing=False):
  """videos: list of lists of (gt_ids, gt_segments list, pred_ids, pred_segments
  list). Every window gets fresh copies, as the reference script at its head;
  aliasing=True: one copy per n shared by the windows in order, as the script
  before its 2020-09-30 fix."""
  import copy
  stats = collections.defaultdict(_Cat)
  copy_frames = lambda frames: [
      (g, {s["id"]: s for s in copy.deepcopy(gs)}, p,
       {s["id"]: s for s in copy.deepcopy(ps)}) for g, gs, p, ps in frames]
  for frames in videos:
    shared = copy_frames(frames)
    for i in range(len(frames) - n + 1):
      window = shared[i:i + n] if aliasing else copy_frames(frames[i:i + n])
      slow_vpsnet_window(window, stats)
  return (slow_pq_average(stats, categories), slow_pq_average(stats, categories, True),
          slow_pq_average(stats, categories, False))


# ------------------------------------------------------------- mIoU and mVC

def slow_vspw_miou(pairs, num_classes):
  conf = [[0] * num_classes for _ in range(num_classes)]
  for gt, pred in pairs:
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
      if 0 <= g < num_classes:
        conf[g][p] += 1
  total, n = 0.0, 0
  for c in range(num_classes):
    row = sum(conf[c])
    if row == 0:
      continue
    col = sum(conf[r][c] for r in range(num_classes))
    n += 1
    total += conf[c][c] / (row + col - conf[c][c])
  return total / n if n else float("nan")


def slow_mvc(videos, n):
  """videos: list of lists of (gt, pred); pooled nanmean of VC over windows."""
  accs = []
  for frames in videos:
    for i in range(len(frames) - n):
      h, w = frames[i][0].shape
      num = den = 0
      for y in range(h):
        for x in range(w):
          g_stable = all(frames[i][0][y, x] == frames[i + j][0][y, x] for j in range(1, n))
          p_stable = all(frames[i][1][y, x] == frames[i + j][1][y, x] for j in range(1, n))
          den += g_stable
          num += g_stable and p_stable
      accs.append(num / den if den else float("nan"))
  valid = [a for a in accs if not math.isnan(a)]
  return sum(valid) / len(valid) if valid else float("nan")
