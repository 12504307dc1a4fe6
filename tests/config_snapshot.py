r"""Every config file and argument, flattened: `field.path -> value`.

  python -m tests.config_snapshot --output=tests/config_values.json

`tests/config_values.json` was written before configs/ became a package
(issue 25); `tests/test_configs.py` checks that every recorded config still
loads to the same values. A recipe change that is meant regenerates it in the
same commit (which then shows the changed values).
"""
import argparse
import json
import sys

ARGUMENTS = {
    "kitti_step": ("", "debug", "swin_b", "swin_l", "swin_b,debug", "swin_l,debug",
                   "swin_l_short_track_fc", "swin_l_short_track_fc,debug",
                   "trainval", "swin_b,trainval"),
    "synthetic_step": ("", "debug", "short"),
    "cityscapes_step": ("", "debug", "swin_b", "swin_l", "swin_b,debug"),
    "cityscapes_vps": ("", "debug", "swin_b", "swin_b,debug"),
    "vipseg": ("", "debug", "swin_b", "swin_b,debug"),
    "vspw": ("", "pspnet", "deeplabv3plus", "debug", "frame", "deeplabv3plus,frame",
             "debug,frame", "deeplabv3plus,debug"),
    "youtube_vis": ("", "debug", "swin_b", "swin_b,debug"),
}


def flatten(config) -> dict:
  """ConfigDict -> {'a.b.c': JSON value} (tuples as lists)."""
  out = {}

  def visit(prefix, value):
    if hasattr(value, "items") and not isinstance(value, (str, bytes)):
      items = list(value.items())
      if not items:
        out[prefix] = {}
      for k, v in items:
        visit(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, (list, tuple)):
      out[prefix] = json.loads(json.dumps(value))
    else:
      out[prefix] = value
  visit("", config)
  return dict(sorted(out.items()))


def load(name: str, arg: str):
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FlagValues()
  spec = f"configs/{name}.py" + (f":{arg}" if arg else "")
  config_flags.DEFINE_config_file("config", None, "", flag_values=values,
                                  lock_config=True, sys_argv=["prog", f"--config={spec}"])
  values(["prog", f"--config={spec}"])
  return values.config


def snapshot() -> dict:
  return {f"{name}:{arg}": flatten(load(name, arg))
          for name, args in ARGUMENTS.items() for arg in args}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--output", required=True)
  args = parser.parse_args(argv)
  lines = []
  for name, values in sorted(snapshot().items()):
    fields = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in values.items()]
    lines.append(f" {json.dumps(name)}: {{\n" + ",\n".join(fields) + "\n }")
  with open(args.output, "w") as f:   # one field a line: diffs name the field.
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
