"""Named keys shared by the data pipeline, model, losses and evaluation.

Every dict that crosses a module boundary uses these names, so a reader can
grep one constant to find its producer and consumers.
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

# ----------------------------------------------------------------------------
# Loss / metric names.
# ----------------------------------------------------------------------------
LOSS_TOTAL = "loss"
