"""Facts about VIPSeg (Miao et al., CVPR 2022; VIPSeg-Dataset/VIPSeg-Dataset).

Class ids, names and the thing flags are those of the data set's
`panoVIPSeg_categories.json` (ids 0..123, the same 124 names as VSPW). The
model orders classes things first (Video K-Net's `vip2hb`): `thing_ids`
then `stuff_ids`, each ascending. Splits are the data set's
train.txt / val.txt (2,806 / 343 videos; the test videos have no public labels
and the data set's 720p script skips them). Frame counts are not checked.
"""
from video_knet_jax.datasets import frame_examples

CLASS_NAMES = (
    "wall", "ceiling", "door", "stair", "ladder", "escalator",
    "Playground_slide", "handrail_or_fence", "window", "rail", "goal", "pillar",
    "pole", "floor", "ground", "grass", "sand", "athletic_field", "road",
    "path", "crosswalk", "building", "house", "bridge", "tower", "windmill",
    "well_or_well_lid", "other_construction", "sky", "mountain", "stone",
    "wood", "ice", "snowfield", "grandstand", "sea", "river", "lake",
    "waterfall", "water", "billboard_or_Bulletin_Board", "sculpture",
    "pipeline", "flag", "parasol_or_umbrella", "cushion_or_carpet", "tent",
    "roadblock", "car", "bus", "truck", "bicycle", "motorcycle",
    "wheeled_machine", "ship_or_boat", "raft", "airplane", "tyre",
    "traffic_light", "lamp", "person", "cat", "dog", "horse", "cattle",
    "other_animal", "tree", "flower", "other_plant", "toy", "ball_net",
    "backboard", "skateboard", "bat", "ball",
    "cupboard_or_showcase_or_storage_rack", "box",
    "traveling_case_or_trolley_case", "basket", "bag_or_package", "trash_can",
    "cage", "plate", "tub_or_bowl_or_pot", "bottle_or_cup", "barrel",
    "fishbowl", "bed", "pillow", "table_or_desk", "chair_or_seat", "bench",
    "sofa", "shelf", "bathtub", "gun", "commode", "roaster", "other_machine",
    "refrigerator", "washing_machine", "Microwave_oven", "fan", "curtain",
    "textiles", "clothes", "painting_or_poster", "mirror",
    "flower_pot_or_vase", "clock", "book", "tool", "blackboard", "tissue",
    "screen_or_television", "computer", "printer", "Mobile_phone", "keyboard",
    "other_electronic_product", "fruit", "food", "instrument", "train")
THING_IDS = (
    2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 60, 61,
    62, 63, 64, 65, 72, 74, 76, 77, 78, 79, 82, 83, 84, 85, 86, 87, 88, 89, 90,
    91, 92, 95, 96, 97, 99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116,
    117, 118, 122, 123)
# One RGB colour per class id (panoVIPSeg_categories.json).
COLORS = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50),
    (4, 200, 3), (120, 120, 80), (140, 140, 140), (204, 5, 255),
    (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61),
    (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140),
    (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250),
    (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230),
    (220, 220, 220), (255, 9, 92), (112, 9, 255), (8, 255, 214),
    (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8),
    (0, 255, 20), (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255),
    (160, 150, 20), (0, 163, 255), (140, 140, 140), (250, 10, 15),
    (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0),
    (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112),
    (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173),
    (10, 0, 255), (173, 255, 0), (0, 255, 153), (255, 92, 0), (255, 0, 255),
    (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204),
    (0, 255, 194), (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255),
    (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10),
    (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0),
    (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31),
    (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255),
    (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255),
    (71, 255, 0), (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235),
    (133, 255, 0))
VOID_LABEL = 255
FRAME_HEIGHT = 720   # the data set's change2_720p.py output.

VIPSEG = frame_examples.PanopticFacts(
    name="vipseg",
    class_names=CLASS_NAMES,
    thing_ids=THING_IDS,
    void_label=VOID_LABEL,
    label_divisor=1000,
    colors=COLORS,
    split_videos={"train": 2806, "val": 343, "test": 387},
    split_frames={"train": None, "val": None, "test": None},
    labelled_splits=("train", "val"),
    frame_height=FRAME_HEIGHT,
)
