"""The frame-level data sets beyond KITTI-STEP, by `config.data.name`.

Each entry pairs a TFDS builder with the generator of a small set in its
official on-disk layout. `config.data.generated` selects between them: empty
(the default) reads the real tree from `config.data.manual_dir`; a dict of the
generator spec's fields (e.g. `{"num_train": 2, "height": 32}`) writes that
small set under `<data_dir>/downloads/manual/<name>/<config name>/` and builds
it, as the synthetic STEP set does. `video_knet_jax/data/prepare.py` asks this
module for every name it does not handle itself.
"""
import dataclasses
import os
from typing import Any, Callable, Mapping

import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets.cityscapes_step import cityscapes_step_dataset_builder as cs_step
from video_knet_jax.datasets.cityscapes_step import generate as cs_step_generate
from video_knet_jax.datasets.cityscapes_vps import cityscapes_vps_dataset_builder as cs_vps
from video_knet_jax.datasets.cityscapes_vps import generate as cs_vps_generate
from video_knet_jax.datasets.coco import coco_instances_dataset_builder as coco_instances
from video_knet_jax.datasets.coco import coco_panoptic_dataset_builder as coco_panoptic
from video_knet_jax.datasets.coco import generate as coco_generate
from video_knet_jax.datasets.vipseg import generate as vipseg_generate
from video_knet_jax.datasets.vipseg import vipseg_dataset_builder as vipseg
from video_knet_jax.datasets.vspw import generate as vspw_generate
from video_knet_jax.datasets.vspw import vspw_dataset_builder as vspw


@dataclasses.dataclass(frozen=True)
class Entry:
  builder: type
  builder_config: type
  real_config: str
  spec: type
  write_tree: Callable[[Any, Any], epath.Path]


DATASETS: Mapping[str, Entry] = {
    "cityscapes_step": Entry(cs_step.Builder, cs_step.CityscapesStepConfig,
                             "cityscapes_step",
                             cs_step_generate.CityscapesStepSpec,
                             cs_step_generate.write_tree),
    "cityscapes_vps": Entry(cs_vps.Builder, cs_vps.CityscapesVpsConfig,
                            "cityscapes_vps",
                            cs_vps_generate.CityscapesVpsSpec,
                            cs_vps_generate.write_tree),
    "vipseg": Entry(vipseg.Builder, vipseg.VipsegConfig, "vipseg_720p",
                    vipseg_generate.VipsegSpec, vipseg_generate.write_tree),
    "vspw": Entry(vspw.Builder, vspw.VspwConfig, "vspw",
                  vspw_generate.GeneratedSpec, vspw_generate.write_tree),
    "coco": Entry(coco_instances.Builder, coco_instances.CocoInstancesConfig, "coco_2017",
                  coco_generate.CocoSpec, coco_generate.write_tree),
    "coco_panoptic": Entry(coco_panoptic.Builder, coco_panoptic.CocoPanopticConfig,
                           "coco_panoptic_2017", coco_generate.CocoPanopticSpec,
                           coco_generate.write_tree),
}


def spec(config):
  """The generator spec of `config.data.generated`, or None for real data."""
  entry = DATASETS[config.data.name]
  values = dict(config.data.get("generated", None) or {})
  if not values:
    return None
  known = {f.name for f in dataclasses.fields(entry.spec)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"config.data.generated has unknown fields {unknown} for "
                     f"{config.data.name}; known: {sorted(known)}.")
  if hasattr(entry.spec, "from_dict"):   # fields beyond ints (e.g. VSPW's videos).
    return entry.spec.from_dict(values)
  return entry.spec(**{k: int(v) for k, v in values.items()})


def make_builder(config, data_dir: epath.Path,
                 **builder_kwargs) -> tfds.core.DatasetBuilder:
  """The (possibly unprepared) builder of a registered `config.data.name`;
  `builder_kwargs` (e.g. file_format) go to the TFDS builder."""
  entry = DATASETS[config.data.name]
  generated = spec(config)
  if generated is None:
    return entry.builder(config=entry.real_config,
                         data_dir=os.fspath(data_dir), **builder_kwargs)
  builder_config = entry.builder_config(
      name=generated.config_name(), facts=generated.facts(),
      description=f"Generated {config.data.name} set {generated}.")
  return entry.builder(config=builder_config, data_dir=os.fspath(data_dir),
                       **builder_kwargs)


def manual_dir(config, data_dir: epath.Path) -> str | None:
  """Where the builder reads from; writes the generated tree if asked to."""
  generated = spec(config)
  if generated is None:
    return config.data.manual_dir or None
  out = (data_dir / "downloads" / "manual" / config.data.name
         / generated.config_name())
  return os.fspath(DATASETS[config.data.name].write_tree(out, generated))
