"""Named keys shared by the data pipeline, models, losses and evaluation.

Every dict that crosses a module boundary uses these names, so a reader can
grep one constant to find its producer and consumers. One module for every
task (video_knet_jax/tasks): panoptic (Video K-Net, image K-Net), semantic
(semantic K-Net) and instance (KNetTrack); the model and loss modules
re-export the keys they produce or read under their old names.
"""

# ----------------------------------------------------------------------------
# Batch keys produced by `video_knet_jax.data` (train clips: T = 1 key + refs).
# ----------------------------------------------------------------------------
IMAGE = "image"                  # [B, T, H, W, 3] float32, ImageNet-normalised.
PADDING_MASK = "padding_mask"    # [B, T, H, W] bool, True where the image was padded.
SEMANTIC = "semantic"            # [B, T, H, W] int32 trainId, 255 = void / padding.
INSTANCE = "instance"            # [B, T, H, W] int32 instance id (config.data.targets_on_device).
THING_MASKS = "thing_masks"      # [B, T, M, H, W] uint8 {0,1}, M = max_instances.
THING_CLASSES = "thing_classes"  # [B, T, M] int32 model class index (0..num_things-1).
THING_IDS = "thing_ids"          # [B, T, M] int32 panoptic/track id (same object, same id).
THING_VALID = "thing_valid"      # [B, T, M] bool, False for padding rows.
STUFF_MASKS = "stuff_masks"      # [B, T, S, H, W] uint8 {0,1}, one per stuff class.
STUFF_VALID = "stuff_valid"      # [B, T, S] bool, True if the class is present.
VOID_MASK = "void_mask"          # [B, T, H, W] bool, void label or padding.
SEQUENCE_ID = "sequence_id"      # [B] int32.
FRAME_INDEX = "frame_index"      # [B, T] int32.
PANOPTIC = "panoptic"            # [.., H, W] int32 semantic * 1000 + instance (eval).
ORIGINAL_SIZE = "original_size"  # (H0, W0) of an eval frame before padding.
FILE_NAME = "file_name"          # str, an eval frame's image path in its data set.

# Instance task (clip-level, data/vis_clips.py): the clip's instances in M
# slots, in order of first appearance (M = config.data.max_instances).
TUBE_MASKS = "masks"             # [B, T, M, H, W] uint8 {0,1}.
TUBE_PRESENT = "present"         # [B, T, M] bool, the instance is in frame t.
TUBE_LABELS = "labels"           # [B, M] int32 class index (0..num_classes-1).
TUBE_VALID = "valid"             # [B, M] bool, False for empty slots.

# ----------------------------------------------------------------------------
# Model output keys (`VideoKNet.apply(...)` returns a dict with these).
# N = num_proposals + num_stuff kernels; h, w = stride-8 feature size.
# ----------------------------------------------------------------------------
RPN_MASK_LOGITS = "rpn_mask_logits"      # [B, P, h, w]  initial thing masks (P proposals).
RPN_SEG_LOGITS = "rpn_seg_logits"        # [B, C, h, w]  semantic logits of conv_seg.
STAGE_MASK_LOGITS = "stage_mask_logits"  # [S, B, N, h, w] per-stage mask logits (stride 8).
STAGE_CLS_LOGITS = "stage_cls_logits"    # [S, B, N, C] per-stage class logits.
MASK_LOGITS = "mask_logits"              # [B, N, h, w] last stage (stride 8).
CLS_LOGITS = "cls_logits"                # [B, N, C] last stage.
KERNELS = "kernels"                      # [B, N, D] last-stage object kernels.
TRACK_KERNELS = "track_kernels"          # [B, N, D] kernels after linking (== KERNELS without previous).
TRACK_EMBEDDINGS = "track_embeddings"    # [B, P, E] association embeddings of the thing kernels.
# Mask-based embeddings (config.model.temporal.embedding != 'kernels'), training only:
MASK_TRACK_EMBEDDINGS = "mask_track_embeddings"  # [B, M, E] of the GT masks ([B, P, M, E]
                                                 # 'kernels+mask_emb': proposal x GT mask).

# Semantic K-Net (`SemanticKNet.apply`); K classes, logits at the head's
# stride (8 for PSP, 4 for DeepLabv3+).
BASE_LOGITS = "base_logits"      # [B, K, h, w] base head (conv_seg) logits.
STAGE_LOGITS = "stage_logits"    # [S, B, K, h, w] logits after each update stage.
SEG_LOGITS = "seg_logits"        # [B, K, h, w] last stage: the prediction.
SEG_KERNELS = "seg_kernels"      # [B, K, C] last-stage class kernels (the state).
AUX_LOGITS = "aux_logits"        # [B, K, H/8, W/8] FCN auxiliary logits (C4).

# KNetTrack (`KNetTrack.apply`), frames of B clips of T flattened to B*T;
# RPN_MASK_LOGITS and RPN_SEG_LOGITS as above.
FRAME_MASK_LOGITS = "frame_mask_logits"  # [S, B*T, N, h, w] per-frame stages.
FRAME_CLS_LOGITS = "frame_cls_logits"    # [S, B*T, N, C]
CLIP_MASK_LOGITS = "clip_mask_logits"    # [S', B*T, N, h, w] tracker stages.
CLIP_CLS_LOGITS = "clip_cls_logits"      # [S'-1, B, N, C] clip-level stages.

# ----------------------------------------------------------------------------
# Loss / metric names.
# ----------------------------------------------------------------------------
LOSS_TOTAL = "loss"
