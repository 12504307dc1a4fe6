"""Benchmark metrics in numpy, matching the reference implementations exactly.

Streaming accumulators (memory independent of the number of frames):
  stq.STQ / stq.kitti_step_stq        STQ, AQ, IoU (deeplab2; KITTI-STEP protocols)
  vpq.VideoPanopticQuality            VPQ on fully annotated sequences (Video K-Net
                                      STEP script or panopticapi rules)
  coco_panoptic.CocoPanopticQuality   image PQ (panopticapi) on PNG ids + JSON segments
  coco_panoptic.CocoVideoPanopticQuality  VPQ (VPSNet, Cityscapes-VPS)
  miou.MeanIoU                        VSPW mIoU
  video_consistency.VideoConsistency  VSPW mVC_8 / mVC_16
  ytvis_ap.YouTubeVISEval             YouTube-VIS AP / AR
Shared pieces: segment_counts (one pixel pass per frame), pq_matching (the PQ
rule), panoptic_ids (semantic * label_divisor + instance).
Entry points: score_folders (score prediction folders), benchmark_metrics.
Definitions: ../shared/reference/metrics_and_datasets.md section 2.
"""
from video_knet_jax.evaluation.segment_counts import SegmentCounts, count_pairs
from video_knet_jax.evaluation.stq import STQ, kitti_step_stq
from video_knet_jax.evaluation.vpq import VideoPanopticQuality
