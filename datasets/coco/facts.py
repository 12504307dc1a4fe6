"""The COCO 2017 label spaces: 80 instance categories, 133 panoptic categories.

Category ids, names, supercategories, the thing flag and colours are those of
panopticapi's `panoptic_coco_categories.json`; the 80 things are exactly the
`categories` of instances_{train,val}2017.json (same ids and names). The model's
class index is the position in this table (things 0..79 in id order, then the
53 stuff classes 80..132), as mmdet's CocoDataset / CocoPanopticDataset number
them. Split sizes are those of train2017 / val2017.
"""
from video_knet_jax.datasets import frame_examples

# (category_id, name, supercategory, isthing, RGB colour), in id order.
CATEGORIES = (
    (1, "person", "person", 1, (220, 20, 60)),
    (2, "bicycle", "vehicle", 1, (119, 11, 32)),
    (3, "car", "vehicle", 1, (0, 0, 142)),
    (4, "motorcycle", "vehicle", 1, (0, 0, 230)),
    (5, "airplane", "vehicle", 1, (106, 0, 228)),
    (6, "bus", "vehicle", 1, (0, 60, 100)),
    (7, "train", "vehicle", 1, (0, 80, 100)),
    (8, "truck", "vehicle", 1, (0, 0, 70)),
    (9, "boat", "vehicle", 1, (0, 0, 192)),
    (10, "traffic light", "outdoor", 1, (250, 170, 30)),
    (11, "fire hydrant", "outdoor", 1, (100, 170, 30)),
    (13, "stop sign", "outdoor", 1, (220, 220, 0)),
    (14, "parking meter", "outdoor", 1, (175, 116, 175)),
    (15, "bench", "outdoor", 1, (250, 0, 30)),
    (16, "bird", "animal", 1, (165, 42, 42)),
    (17, "cat", "animal", 1, (255, 77, 255)),
    (18, "dog", "animal", 1, (0, 226, 252)),
    (19, "horse", "animal", 1, (182, 182, 255)),
    (20, "sheep", "animal", 1, (0, 82, 0)),
    (21, "cow", "animal", 1, (120, 166, 157)),
    (22, "elephant", "animal", 1, (110, 76, 0)),
    (23, "bear", "animal", 1, (174, 57, 255)),
    (24, "zebra", "animal", 1, (199, 100, 0)),
    (25, "giraffe", "animal", 1, (72, 0, 118)),
    (27, "backpack", "accessory", 1, (255, 179, 240)),
    (28, "umbrella", "accessory", 1, (0, 125, 92)),
    (31, "handbag", "accessory", 1, (209, 0, 151)),
    (32, "tie", "accessory", 1, (188, 208, 182)),
    (33, "suitcase", "accessory", 1, (0, 220, 176)),
    (34, "frisbee", "sports", 1, (255, 99, 164)),
    (35, "skis", "sports", 1, (92, 0, 73)),
    (36, "snowboard", "sports", 1, (133, 129, 255)),
    (37, "sports ball", "sports", 1, (78, 180, 255)),
    (38, "kite", "sports", 1, (0, 228, 0)),
    (39, "baseball bat", "sports", 1, (174, 255, 243)),
    (40, "baseball glove", "sports", 1, (45, 89, 255)),
    (41, "skateboard", "sports", 1, (134, 134, 103)),
    (42, "surfboard", "sports", 1, (145, 148, 174)),
    (43, "tennis racket", "sports", 1, (255, 208, 186)),
    (44, "bottle", "kitchen", 1, (197, 226, 255)),
    (46, "wine glass", "kitchen", 1, (171, 134, 1)),
    (47, "cup", "kitchen", 1, (109, 63, 54)),
    (48, "fork", "kitchen", 1, (207, 138, 255)),
    (49, "knife", "kitchen", 1, (151, 0, 95)),
    (50, "spoon", "kitchen", 1, (9, 80, 61)),
    (51, "bowl", "kitchen", 1, (84, 105, 51)),
    (52, "banana", "food", 1, (74, 65, 105)),
    (53, "apple", "food", 1, (166, 196, 102)),
    (54, "sandwich", "food", 1, (208, 195, 210)),
    (55, "orange", "food", 1, (255, 109, 65)),
    (56, "broccoli", "food", 1, (0, 143, 149)),
    (57, "carrot", "food", 1, (179, 0, 194)),
    (58, "hot dog", "food", 1, (209, 99, 106)),
    (59, "pizza", "food", 1, (5, 121, 0)),
    (60, "donut", "food", 1, (227, 255, 205)),
    (61, "cake", "food", 1, (147, 186, 208)),
    (62, "chair", "furniture", 1, (153, 69, 1)),
    (63, "couch", "furniture", 1, (3, 95, 161)),
    (64, "potted plant", "furniture", 1, (163, 255, 0)),
    (65, "bed", "furniture", 1, (119, 0, 170)),
    (67, "dining table", "furniture", 1, (0, 182, 199)),
    (70, "toilet", "furniture", 1, (0, 165, 120)),
    (72, "tv", "electronic", 1, (183, 130, 88)),
    (73, "laptop", "electronic", 1, (95, 32, 0)),
    (74, "mouse", "electronic", 1, (130, 114, 135)),
    (75, "remote", "electronic", 1, (110, 129, 133)),
    (76, "keyboard", "electronic", 1, (166, 74, 118)),
    (77, "cell phone", "electronic", 1, (219, 142, 185)),
    (78, "microwave", "appliance", 1, (79, 210, 114)),
    (79, "oven", "appliance", 1, (178, 90, 62)),
    (80, "toaster", "appliance", 1, (65, 70, 15)),
    (81, "sink", "appliance", 1, (127, 167, 115)),
    (82, "refrigerator", "appliance", 1, (59, 105, 106)),
    (84, "book", "indoor", 1, (142, 108, 45)),
    (85, "clock", "indoor", 1, (196, 172, 0)),
    (86, "vase", "indoor", 1, (95, 54, 80)),
    (87, "scissors", "indoor", 1, (128, 76, 255)),
    (88, "teddy bear", "indoor", 1, (201, 57, 1)),
    (89, "hair drier", "indoor", 1, (246, 0, 122)),
    (90, "toothbrush", "indoor", 1, (191, 162, 208)),
    (92, "banner", "textile", 0, (255, 255, 128)),
    (93, "blanket", "textile", 0, (147, 211, 203)),
    (95, "bridge", "building", 0, (150, 100, 100)),
    (100, "cardboard", "raw-material", 0, (168, 171, 172)),
    (107, "counter", "furniture-stuff", 0, (146, 112, 198)),
    (109, "curtain", "textile", 0, (210, 170, 100)),
    (112, "door-stuff", "furniture-stuff", 0, (92, 136, 89)),
    (118, "floor-wood", "floor", 0, (218, 88, 184)),
    (119, "flower", "plant", 0, (241, 129, 0)),
    (122, "fruit", "food-stuff", 0, (217, 17, 255)),
    (125, "gravel", "ground", 0, (124, 74, 181)),
    (128, "house", "building", 0, (70, 70, 70)),
    (130, "light", "furniture-stuff", 0, (255, 228, 255)),
    (133, "mirror-stuff", "furniture-stuff", 0, (154, 208, 0)),
    (138, "net", "structural", 0, (193, 0, 92)),
    (141, "pillow", "textile", 0, (76, 91, 113)),
    (144, "platform", "ground", 0, (255, 180, 195)),
    (145, "playingfield", "ground", 0, (106, 154, 176)),
    (147, "railroad", "ground", 0, (230, 150, 140)),
    (148, "river", "water", 0, (60, 143, 255)),
    (149, "road", "ground", 0, (128, 64, 128)),
    (151, "roof", "building", 0, (92, 82, 55)),
    (154, "sand", "ground", 0, (254, 212, 124)),
    (155, "sea", "water", 0, (73, 77, 174)),
    (156, "shelf", "furniture-stuff", 0, (255, 160, 98)),
    (159, "snow", "ground", 0, (255, 255, 255)),
    (161, "stairs", "furniture-stuff", 0, (104, 84, 109)),
    (166, "tent", "building", 0, (169, 164, 131)),
    (168, "towel", "textile", 0, (225, 199, 255)),
    (171, "wall-brick", "wall", 0, (137, 54, 74)),
    (175, "wall-stone", "wall", 0, (135, 158, 223)),
    (176, "wall-tile", "wall", 0, (7, 246, 231)),
    (177, "wall-wood", "wall", 0, (107, 255, 200)),
    (178, "water-other", "water", 0, (58, 41, 149)),
    (180, "window-blind", "window", 0, (183, 121, 142)),
    (181, "window-other", "window", 0, (255, 73, 97)),
    (184, "tree-merged", "plant", 0, (107, 142, 35)),
    (185, "fence-merged", "structural", 0, (190, 153, 153)),
    (186, "ceiling-merged", "ceiling", 0, (146, 139, 141)),
    (187, "sky-other-merged", "sky", 0, (70, 130, 180)),
    (188, "cabinet-merged", "furniture-stuff", 0, (134, 199, 156)),
    (189, "table-merged", "furniture-stuff", 0, (209, 226, 140)),
    (190, "floor-other-merged", "floor", 0, (96, 36, 108)),
    (191, "pavement-merged", "ground", 0, (96, 96, 96)),
    (192, "mountain-merged", "solid", 0, (64, 170, 64)),
    (193, "grass-merged", "plant", 0, (152, 251, 152)),
    (194, "dirt-merged", "ground", 0, (208, 229, 228)),
    (195, "paper-merged", "raw-material", 0, (206, 186, 171)),
    (196, "food-other-merged", "food-stuff", 0, (152, 161, 64)),
    (197, "building-other-merged", "building", 0, (116, 112, 0)),
    (198, "rock-merged", "solid", 0, (0, 114, 143)),
    (199, "wall-other-merged", "wall", 0, (102, 102, 156)),
    (200, "rug-merged", "textile", 0, (250, 141, 255)),

)
THING_CATEGORIES = tuple(c for c in CATEGORIES if c[3])
CATEGORY_IDS = tuple(c[0] for c in CATEGORIES)
THING_CATEGORY_IDS = tuple(c[0] for c in THING_CATEGORIES)
VOID_LABEL = 255
# Panoptic ids class * 1000 + instance (COCO images have at most ~100 things).
LABEL_DIVISOR = 1000
SPLIT_IMAGES = {"train": 118287, "val": 5000}
# Where each split's files are, relative to the manual dir (official layout).
IMAGE_DIR = "{split}2017"
INSTANCES_JSON = "annotations/instances_{split}2017.json"
PANOPTIC_JSON = "annotations/panoptic_{split}2017.json"
PANOPTIC_PNG_DIR = "annotations/panoptic_{split}2017"

COCO_INSTANCES = frame_examples.PanopticFacts(
    name="coco",
    class_names=tuple(c[1] for c in THING_CATEGORIES),
    thing_ids=tuple(range(len(THING_CATEGORIES))),
    void_label=VOID_LABEL,
    label_divisor=LABEL_DIVISOR,
    colors=tuple(c[4] for c in THING_CATEGORIES),
    split_videos=SPLIT_IMAGES,   # images: every image is its own sequence.
    split_frames=SPLIT_IMAGES,
    labelled_splits=("train", "val"),
)
COCO_PANOPTIC = frame_examples.PanopticFacts(
    name="coco_panoptic",
    class_names=tuple(c[1] for c in CATEGORIES),
    thing_ids=tuple(range(len(THING_CATEGORIES))),
    void_label=VOID_LABEL,
    label_divisor=LABEL_DIVISOR,
    colors=tuple(c[4] for c in CATEGORIES),
    split_videos=SPLIT_IMAGES,
    split_frames=SPLIT_IMAGES,
    labelled_splits=("train", "val"),
)


def class_index(categories=CATEGORIES) -> dict[int, int]:
  """category_id -> model class index (position in `categories`)."""
  return {c[0]: k for k, c in enumerate(categories)}
