"""Quasi-dense embedding tracker: hand-made sequences, a dict-based reference, static memory."""
import numpy as np
import pytest
import jax
import jax.numpy as jnp

from video_knet_jax.inference import tracker as tr

E = 8
CAR, PERSON = 1, 0


def _embed(i):
  v = np.zeros(E, np.float32)
  v[i] = 5.0
  return v


class _Seq:
  """Runs tracker_step on frames given as lists of (object, label, score, box)."""

  def __init__(self, k=6, **settings):
    self.k = k
    self.state = tr.init_tracker_state(tr.TrackerSettings(**settings), k, E)
    self.step = jax.jit(tr.tracker_step)
    self.frame = 0

  def __call__(self, dets):
    k = self.k
    embeds = np.zeros((k, E), np.float32)
    labels = np.zeros(k, np.int32)
    scores = np.zeros(k, np.float32)
    boxes = np.zeros((k, 4), np.float32)
    valid = np.zeros(k, bool)
    for i, (obj, label, score, box) in enumerate(dets):
      embeds[i], labels[i], scores[i], boxes[i], valid[i] = _embed(obj), label, score, box, True
    self.state, ids = self.step(self.state, embeds, labels, scores, boxes, valid, self.frame)
    self.frame += 1
    return list(np.asarray(ids)[:len(dets)])


LEFT, MID, RIGHT, FAR = (0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10), (80, 0, 90, 10)


def test_crossing_objects_keep_their_ids():
  seq = _Seq()
  assert seq([(0, CAR, 0.9, LEFT), (1, CAR, 0.8, RIGHT)]) == [1, 2]
  # They meet in the middle (boxes overlap fully but scores are high: IoU thr 0.7 ...
  # boxes differ a little so neither is a duplicate), then cross; input order swapped.
  assert seq([(1, CAR, 0.85, (22, 0, 32, 10)), (0, CAR, 0.9, (18, 0, 28, 10))]) == [2, 1]
  assert seq([(1, CAR, 0.8, LEFT), (0, CAR, 0.9, RIGHT)]) == [2, 1]


def test_leaving_and_returning_within_and_beyond_memory():
  # memo_tracklet_frames = 5: a tracklet last seen at frame f is still matched at
  # frame f + 5 (it is dropped after that frame's update), not at f + 6.
  seq = _Seq()
  assert seq([(0, CAR, 0.9, LEFT), (1, CAR, 0.9, RIGHT), (2, PERSON, 0.9, FAR)]) == [1, 2, 3]
  for _ in range(4):                                       # frames 1-4: only object 2.
    assert seq([(2, PERSON, 0.9, FAR)]) == [3]
  assert seq([(2, PERSON, 0.9, FAR), (0, CAR, 0.9, LEFT)]) == [3, 1]   # frame 5: back.
  assert seq([(2, PERSON, 0.9, FAR), (1, CAR, 0.9, RIGHT)]) == [3, 4]  # frame 6: too late.
  assert seq([(0, CAR, 0.9, LEFT), (1, CAR, 0.9, RIGHT)]) == [1, 4]


def test_frames_without_detections_do_not_age_the_memory():
  seq = _Seq()
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]
  for _ in range(8):
    assert seq([]) == []
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]        # frame 9: as the original, still known.
  seq = _Seq(skip_empty_frames=False)
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]
  for _ in range(8):
    assert seq([]) == []
  assert seq([(0, CAR, 0.9, LEFT)]) == [2]


def test_class_consistency_and_score_rules():
  seq = _Seq()
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]
  # Same embedding but another class: no match; 0.33 is below init_score_thr -> no id.
  assert seq([(0, CAR, 0.9, LEFT), (0, PERSON, 0.33, FAR)]) == [1, 0]
  # A low-score (<= obj_score_thr) detection matching a tracklet is suppressed (-2 -> 0)
  # and starts nothing; a new object with score 0.4 gets a new id.
  assert seq([(0, CAR, 0.28, LEFT), (3, CAR, 0.4, RIGHT)]) == [0, 2]
  # The suppressed frame did not refresh or kill tracklet 1.
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]


def test_duplicates_are_dropped_without_shifting_ids():
  seq = _Seq()
  # Detection 1 overlaps detection 0 (IoU 0.82 > 0.7): dropped. The original
  # would return ids for the filtered list and shift object 2's id onto it.
  assert seq([(0, CAR, 0.9, LEFT), (4, CAR, 0.8, (0, 0, 10, 9)),
               (1, CAR, 0.7, RIGHT)]) == [1, 0, 2]
  # Low-score (< 0.3) detections use the backdrop IoU threshold 0.3.
  assert seq([(0, CAR, 0.9, LEFT), (5, CAR, 0.29, (5, 0, 15, 10)),
              (1, CAR, 0.7, RIGHT)]) == [1, 0, 2]


def test_backdrops_are_kept_for_memo_backdrop_frames():
  seq = _Seq(memo_backdrop_frames=2)
  assert seq([(0, CAR, 0.9, LEFT), (6, CAR, 0.3, FAR)]) == [1, 0]    # 6 -> backdrop.
  valid = np.asarray(seq.state.backdrop_valid)
  assert valid.shape == (2, 6) and valid[0].sum() == 1 and valid[1].sum() == 0
  row = int(np.argmax(valid[0]))
  np.testing.assert_allclose(np.asarray(seq.state.backdrop_embeds)[0, row], _embed(6))
  # Matched to its backdrop (an id of -1), below init_score_thr: still no id.
  assert seq([(0, CAR, 0.9, LEFT), (6, CAR, 0.32, FAR)]) == [1, 0]
  assert np.asarray(seq.state.backdrop_valid).sum(axis=1).tolist() == [1, 1]
  assert seq([(0, CAR, 0.9, LEFT)]) == [1]
  assert np.asarray(seq.state.backdrop_valid).sum(axis=1).tolist() == [0, 1]


# ---------------------------------------------------------------------------
# Reference: the original's dict-based tracker, transliterated (dynamic shapes).
# ---------------------------------------------------------------------------
def _iou(a, b):
  lt = np.maximum(a[:, None, :2], b[None, :, :2])
  rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
  wh = np.clip(rb - lt, 0, None)
  inter = wh[..., 0] * wh[..., 1]
  area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
  area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
  return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-6)


class _DictTracker:

  def __init__(self, s):
    self.s, self.num, self.tracklets, self.backdrops = s, 0, {}, []

  def match(self, boxes, labels, embeds, scores, frame):
    s, n = self.s, len(scores)
    if n == 0:                       # the detector skips the tracker on such frames.
      return np.zeros(0, np.int64)
    inds = np.argsort(-scores, kind="stable")
    boxes, labels, embeds, scores = boxes[inds], labels[inds], embeds[inds], scores[inds]
    ious = _iou(boxes, boxes)
    keep = np.ones(len(boxes), bool)
    for i in range(1, len(boxes)):
      thr = s.nms_backdrop_iou_thr if scores[i] < s.obj_score_thr else s.nms_class_iou_thr
      if (ious[i, :i] > thr).any():
        keep[i] = False
    inds, boxes, labels, embeds, scores = (inds[keep], boxes[keep], labels[keep],
                                           embeds[keep], scores[keep])
    ious = _iou(boxes, boxes)
    ids = np.full(len(boxes), -1, np.int64)
    if len(boxes) and self.tracklets:
      m_emb = [v["embed"] for v in self.tracklets.values()]
      m_lab = [v["label"] for v in self.tracklets.values()]
      m_ids = list(self.tracklets.keys())
      for b in self.backdrops:
        m_emb += list(b["embeds"])
        m_lab += list(b["labels"])
        m_ids += [-1] * len(b["labels"])
      feats = embeds.astype(np.float64) @ np.asarray(m_emb, np.float64).T
      d2t = np.exp(feats - feats.max(1, keepdims=True))
      d2t /= d2t.sum(1, keepdims=True)
      t2d = np.exp(feats - feats.max(0, keepdims=True))
      t2d /= t2d.sum(0, keepdims=True)
      sc = (d2t + t2d) / 2 * (labels[:, None] == np.asarray(m_lab)[None])
      for i in range(len(boxes)):
        j = int(np.argmax(sc[i]))
        conf, mid = sc[i, j], m_ids[j]
        if conf > s.match_score_thr and mid > -1:
          if scores[i] > s.obj_score_thr:
            ids[i] = mid
            sc[:i, j] = 0
            sc[i + 1:, j] = 0
          elif conf > s.nms_conf_thr:
            ids[i] = -2
    new = (ids == -1) & (scores > s.init_score_thr)
    ids[new] = np.arange(self.num, self.num + new.sum())
    self.num += new.sum()
    for i in np.nonzero(ids > -1)[0]:
      if ids[i] in self.tracklets:
        t = self.tracklets[ids[i]]
        t.update(embed=(1 - s.memo_momentum) * t["embed"] + s.memo_momentum * embeds[i],
                 label=labels[i], last=frame)
      else:
        self.tracklets[ids[i]] = dict(embed=embeds[i].copy(), label=labels[i], last=frame)
    bd = [i for i in np.nonzero(ids == -1)[0]
          if not (ious[i, :i] > s.nms_backdrop_iou_thr).any()]
    self.backdrops.insert(0, dict(embeds=embeds[bd], labels=labels[bd]))
    for k in [k for k, v in self.tracklets.items() if frame - v["last"] >= s.memo_tracklet_frames]:
      self.tracklets.pop(k)
    if len(self.backdrops) > s.memo_backdrop_frames:
      self.backdrops.pop()
    out = np.zeros(n, np.int64)
    out[inds] = np.where(ids >= 0, ids + 1, 0)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_dict_based_reference_on_random_sequences(seed):
  rng = np.random.default_rng(seed)
  settings = tr.TrackerSettings(max_tracks=64)
  k, num_objects = 8, 12
  protos = rng.normal(0, 1.0, (num_objects, E)).astype(np.float32)
  obj_labels = rng.integers(0, 2, num_objects)
  centers = rng.uniform(0, 200, (num_objects, 2))
  state = tr.init_tracker_state(settings, k, E)
  step = jax.jit(tr.tracker_step)
  ref = _DictTracker(settings)
  reused, seen = 0, set()
  for frame in range(40):
    present = np.nonzero(rng.random(num_objects) < 0.45)[0][:k]
    n = len(present)
    embeds = np.zeros((k, E), np.float32)
    labels = np.zeros(k, np.int32)
    scores = np.zeros(k, np.float32)
    boxes = np.zeros((k, 4), np.float32)
    valid = np.zeros(k, bool)
    centers += rng.normal(0, 2, centers.shape)
    for i, o in enumerate(present):
      embeds[i] = protos[o] + rng.normal(0, 0.3, E)
      labels[i] = obj_labels[o]
      scores[i] = rng.uniform(0.2, 1.0)
      size = rng.uniform(10, 30)
      boxes[i] = [centers[o, 0], centers[o, 1], centers[o, 0] + size, centers[o, 1] + size]
      valid[i] = True
    slots = rng.permutation(k)          # padding rows anywhere in the input.
    state, ids = step(state, embeds[slots], labels[slots], scores[slots], boxes[slots],
                      valid[slots], frame)
    ids = np.asarray(ids)
    expected = ref.match(boxes[:n], labels[:n], embeds[:n], scores[:n], frame)
    back = np.empty(k, np.int64)
    back[slots] = np.arange(k)          # where input row i went.
    np.testing.assert_array_equal(ids[back[:n]], expected, err_msg=f"frame {frame}")
    assert (ids[back[n:]] == 0).all()
    reused += len(seen & set(expected[expected > 0].tolist()))
    seen |= set(expected[expected > 0].tolist())
  assert int(state.num_evicted) == 0
  assert reused > 40, "the random sequence should exercise matching"


def test_state_size_is_constant_and_step_does_not_retrace():
  traces = []

  def counted(*args):
    traces.append(1)
    return tr.tracker_step(*args)

  step = jax.jit(counted)
  settings = tr.TrackerSettings(max_tracks=16)
  k = 10
  state = tr.init_tracker_state(settings, k, E)
  shapes0 = jax.tree.map(lambda x: (x.shape, x.dtype), state)
  rng = np.random.default_rng(0)
  for frame in range(100):
    xy = rng.uniform(0, 500, (k, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + 20], axis=1)
    state, ids = step(state, rng.normal(size=(k, E)).astype(np.float32),
                      rng.integers(0, 2, k).astype(np.int32),
                      rng.uniform(0.3, 1, k).astype(np.float32), boxes,
                      rng.random(k) < 0.8, frame)
  assert len(traces) == 1
  assert jax.tree.map(lambda x: (x.shape, x.dtype), state) == shapes0
  # Random embeddings rarely match: many new tracks, the 16 slots overflowed.
  assert int(state.next_id) > 16 and int(state.num_evicted) > 0
  assert int(np.asarray(state.active).sum()) <= 16


def test_bad_shapes_are_rejected():
  state = tr.init_tracker_state(tr.TrackerSettings(), 4, E)
  with pytest.raises(ValueError, match="init_tracker_state"):
    tr.tracker_step(state, jnp.zeros((5, E)), jnp.zeros(5, jnp.int32), jnp.zeros(5),
                    jnp.zeros((5, 4)), jnp.zeros(5, bool), 0)
