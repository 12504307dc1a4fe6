"""Inference: panoptic merge, association (tracking) and the streaming predictor.

  panoptic_merge.py    joint thing/stuff merge of one frame (original section 5.4)
  boxes.py             segment boxes with the semantic filter, box IoU
  tracker.py           quasi-dense embedding tracker as a pure, fixed-size step
  mask_iou_tracker.py  mask-IoU association baseline (ablation)
  predictor.py         VideoPredictor: model + merge + tracker, one jitted frame
  kitti_step_png.py    KITTI-STEP submission PNGs (R class, G/B id)
  visualize.py         colour maps and overlays
  labels.py            track ids and class names drawn on an overlay
  video_io.py          frames in (video, folder, glob) and MP4/GIF out, for predict
  track_log.py         tracks.json (per-track boxes, areas, scores), atomic writes
  predict_benchmark.py predict's frames/s and peak RSS on a generated video
"""
