"""Facts about VIPSeg (Miao et al., CVPR 2022; VIPSeg-Dataset/VIPSeg-Dataset).

Class ids, names and the thing flags are those of the data set's
`panoVIPSeg_categories.json` (ids 0..123, the same 124 names as VSPW). The
model orders classes things first (Video K-Net's `vip2hb`): `thing_train_ids`
then `stuff_train_ids`, each ascending. Splits are the data set's
train.txt / val.txt (2,806 / 343 videos; the test videos have no public labels
and the data set's 720p script skips them). Frame counts are not checked.
"""
from datasets import frame_examples

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
VOID_LABEL = 255
FRAME_HEIGHT = 720   # the data set's change2_720p.py output.

VIPSEG = frame_examples.PanopticFacts(
    name="vipseg",
    class_names=CLASS_NAMES,
    thing_train_ids=THING_IDS,
    void_label=VOID_LABEL,
    split_videos={"train": 2806, "val": 343},
    split_frames={"train": None, "val": None},
    labelled_splits=("train", "val"),
    frame_height=FRAME_HEIGHT,
)
