"""YouTube-VIS training clips: one global stream, sliced per host, resumable."""
import itertools

import cv2
import numpy as np

from video_knet_jax.data import vis_clips
from video_knet_jax.losses import clip_loss

from video_knet_jax.configs import youtube_vis


def _examples():
  """3 videos of 4, 5 and 6 frames (40 x 56), one instance each."""
  rng = np.random.default_rng(0)
  examples = []
  for video_id, length in enumerate((4, 5, 6)):
    for t in range(length):
      mask = np.zeros((1, 40, 56), np.uint8)
      mask[0, 5 + t:20 + t, 10:30] = 1
      examples.append({
          "video_id": video_id, "frame_index": t, "num_frames": length,
          "image": rng.integers(0, 255, (40, 56, 3), np.uint8),
          "instance_ids": np.array([video_id + 1]),
          "is_crowd": np.array([False]), "labels": np.array([video_id + 1]),
          "masks": mask})
  return examples


def _take(source, config, batch_size, **kw):
  return list(itertools.islice(vis_clips.make_train_dataset(
      config, batch_size=batch_size, source=source, **kw).as_numpy_iterator(), 3))


def test_two_hosts_together_read_the_one_host_batches_and_resume():
  config = youtube_vis.get_config("debug")
  source = _examples()
  one = _take(source, config, 4)
  hosts = [_take(source, config, 2, process_index=p, process_count=2)
           for p in range(2)]
  resumed = _take(source, config, 4, start_step=1)
  for step in range(3):
    for key, value in one[step].items():
      np.testing.assert_array_equal(
          np.concatenate([hosts[0][step][key], hosts[1][step][key]]), value)
  for key in one[0]:
    np.testing.assert_array_equal(resumed[0][key], one[1][key])
  # Each host has its own slice (a host-seeded copy of one stream would not).
  assert not np.array_equal(hosts[0][0][vis_clips.IMAGE],
                            hosts[1][0][vis_clips.IMAGE])


class _CountingSource(list):
  """A list of examples that counts how many it hands out."""
  reads = 0

  def __getitem__(self, index):
    self.reads += 1
    return super().__getitem__(index)


def test_video_frames_decode_only_the_frames_asked_for():
  source = _CountingSource(_examples())
  spans = vis_clips.video_spans(source)
  assert spans == [(0, 0, 4), (1, 4, 5), (2, 9, 6)]
  source.reads = 0
  video = vis_clips.VideoFrames(source, spans[2])
  assert video.shape == (6, 40, 56, 3) and len(video) == 6
  assert source.reads == 1                      # the first frame, for the shape.
  chunk = video[2:5]
  assert source.reads == 4
  np.testing.assert_array_equal(
      chunk, np.stack([source[9 + t]["image"] for t in (2, 3, 4)]))
  np.testing.assert_array_equal(video[5], source[14]["image"])
  assert video[4:99].shape == (2, 40, 56, 3)
  try:
    video.example(6)
  except IndexError as e:
    assert "frame 6 of a 6-frame video" in str(e)
  else:
    raise AssertionError("frame 6 of 6 did not raise")


def test_training_clip_is_sized_and_resized_as_the_original():
  """SeqResize(img_scale=(288, 1e6), keep_ratio=True) of a 576x1025 clip:
  288x513 (mmcv rounds 512.5 up), OpenCV bilinear images and nearest masks,
  zero padding to the canvas; a portrait clip too tall for the canvas fits it."""
  config = youtube_vis.get_config("debug")
  config.data.short_sides = (288,)
  config.data.canvas = (320, 544)
  config.data.flip_prob = 0.0
  rng = np.random.default_rng(4)
  examples = [{"image": rng.integers(0, 256, (576, 1025, 3), np.uint8),
               "instance_ids": np.array([7]), "is_crowd": np.array([False]),
               "labels": np.array([2]),
               "masks": rng.integers(0, 2, (1, 576, 1025), np.uint8)} for _ in range(2)]
  clip = vis_clips.make_clip(examples, config, np.random.default_rng(0))
  assert clip[vis_clips.IMAGE].shape == (2, 320, 544, 3)
  cv2.ipp.setUseIPP(False)
  try:
    image = cv2.resize(examples[1]["image"].astype(np.float32), (513, 288),
                       interpolation=cv2.INTER_LINEAR)
  finally:
    cv2.ipp.setUseIPP(True)
  want = (image - np.float32(config.data.mean)) / np.float32(config.data.std)
  np.testing.assert_allclose(clip[vis_clips.IMAGE][1, :288, :513], want, atol=1e-4)
  assert not clip[vis_clips.IMAGE][:, 288:].any() and not clip[vis_clips.IMAGE][:, :, 513:].any()
  masks = clip[clip_loss.MASKS]
  np.testing.assert_array_equal(
      masks[1, 0, :288, :513],
      cv2.resize(examples[1]["masks"][0], (513, 288), interpolation=cv2.INTER_NEAREST))
  assert not masks[:, :, 288:].any() and not masks[:, :, :, 513:].any()
  # Portrait 1025x576 at short side 288 would be 513x288: capped to the canvas height.
  assert vis_clips.clip_size(1025, 576, 288, (320, 544)) == (320, 180)
  assert vis_clips.clip_size(576, 1025, 288, (320, 544)) == (288, 513)
