"""The commands of docs/RECIPES.md, as configs and calls: the recipe test harness.

A checked block is the first ```bash fence after a line `<!-- recipe-test -->`
in a Markdown file. In it, a `# title` line starts a group; every following
`python train.py ...` / `python evaluate.py ...` line is one command of that
group, and `DIR` is the group's work directory (its commands share it). To put
more rows of RECIPES.md (or another file) under test, add the marker before
their block: nothing else changes.

`debug_command` parses a command exactly as the script does (absl flags +
ml_collections `config_flags`: `--config=file.py[:arg]` and
`--config.a.b=value` overrides) with `,debug` appended to the config argument,
and moves the data to a generated set in the data set's own format (KITTI-STEP
rows: `datasets/synthetic_step`; every other config's `:debug` names its own),
so that every row runs without a download. What only a download has is left
out at debug size: `--config.data.manual_dir=...` and overrides whose value
is a placeholder (`$VAR`, an upper-case word such as `N` or `CKPT`). `DIR`,
`PRE` and `IMG` are work directories of the group. A split without labels
(`--split=test`, YouTube-VIS `valid`) gets one in the generated set. A command
may only use flags its script defines (read from the script).
"""
import dataclasses
import json
import os
import re
import shlex
import sys
from typing import Any, Dict, List

from absl import flags
from ml_collections import config_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "docs", "RECIPES.md")
MARKER = "<!-- recipe-test -->"
SCRIPTS = ("train.py", "evaluate.py")
INT_FLAGS = ("step", "max_sequences")
WORKDIRS = ("DIR", "PRE", "IMG")   # a group's work directories (DIR: the group's own).
PLACEHOLDER = re.compile(r"^(\$\S+|[A-Z][A-Z0-9_]*)$")   # a download's path or size.
PATH_FLAGS = ("workdir", "output_dir", "checkpoint")
TRAIN_STEPS = 3   # per group, at :debug size.


@dataclasses.dataclass
class Command:
  script: str          # 'train.py' or 'evaluate.py'.
  args: List[str]      # flags as written, DIR unreplaced.

  def __str__(self):
    return " ".join(["python", self.script] + self.args)


@dataclasses.dataclass
class Group:
  title: str
  commands: List[Command]


def groups(path: str = RECIPES) -> List[Group]:
  """Every group of every checked block of `path`, in file order."""
  text = open(path).read()
  out = []
  # The marker alone on its line (prose may name it).
  for chunk in re.split(rf"^{re.escape(MARKER)}[ \t]*$", text, flags=re.M)[1:]:
    block = re.search(r"```bash\n(.*?)```", chunk, flags=re.S)
    if block is None:
      raise ValueError(f"{path}: {MARKER} is not followed by a ```bash block.")
    for line in block.group(1).replace("\\\n", " ").splitlines():
      line = line.strip()
      if not line:
        continue
      if line.startswith("#"):
        out.append(Group(line.lstrip("# "), []))
        continue
      words = shlex.split(line)
      if len(words) < 2 or words[0] != "python" or words[1] not in SCRIPTS or not out:
        raise ValueError(f"{path}: {line!r} is not 'python train.py|evaluate.py ...' "
                         "under a '# title' line.")
      out[-1].commands.append(Command(words[1], words[2:]))
  return out


def script_flags(script: str) -> set:
  """Names of the flags `script` defines (its source), plus absl's own."""
  source = open(os.path.join(ROOT, script)).read()
  names = set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", source))
  return names | {"verbose"}   # entry_point's.


def _debug_config_arg(value: str) -> str:
  path, _, arg = value.partition(":")
  return f"{path}:{arg},debug" if arg else f"{path}:debug"


@dataclasses.dataclass
class DebugCommand:
  """A command at `,debug` size, ready to run: its config and other flags."""
  command: Command
  config: Any                 # ml_collections.ConfigDict.
  flags: Dict[str, Any]       # the script's other flags ('workdir', 'association', ...).

  @property
  def key(self) -> str:
    """Equal for commands that compute the same thing, wherever they write (dedupe)."""
    flags_but_paths = sorted((k, v) for k, v in self.flags.items() if k not in PATH_FLAGS)
    return json.dumps([self.command.script, self.config.to_json_best_effort(sort_keys=True),
                       flags_but_paths])


def debug_command(command: Command, workdir: str, data_dir: str) -> DebugCommand:
  """`command` at `,debug` size on the generated set; DIR = `workdir`."""
  allowed = script_flags(command.script)
  values = flags.FlagValues()
  argv, overrides = [command.script], []
  for arg in command.args:
    arg = re.sub(r"\b(%s)\b" % "|".join(WORKDIRS),
                 lambda m: workdir if m.group(1) == "DIR" else f"{workdir}_{m.group(1)}", arg)
    name = arg[2:].split("=", 1)[0]
    if not arg.startswith("--"):
      raise ValueError(f"{command}: unexpected argument {arg!r}.")
    if name == "config":
      arg = "--config=" + _debug_config_arg(arg.split("=", 1)[1])
    elif name.startswith("config."):
      if name == "config.data.manual_dir" or PLACEHOLDER.match(arg.split("=", 1)[-1]):
        continue   # the download's path or size: the generated set stands in.
      overrides.append(name[len("config."):])
    elif name not in allowed:
      raise ValueError(f"{command}: {command.script} defines no flag --{name}.")
    elif name not in values:
      define = flags.DEFINE_integer if name in INT_FLAGS else flags.DEFINE_string
      define(name, None, "", flag_values=values)
    argv.append(arg)
  # config_flags registers the --config.* overrides from the argv it is given.
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=False,
                                  sys_argv=argv)
  values(argv)
  config = values.config
  split = values["split"].value if "split" in values else None
  _use_generated_data(config, overrides, data_dir, split)
  if command.script == "train.py":
    config.train.num_steps = TRAIN_STEPS
    config.train.checkpoint_every_steps = TRAIN_STEPS
    config.train.eval_every_steps = 0
    config.train.log_every_steps = 1
  other = {name: values[name].value for name in values if name != "config"
           and values[name].present}
  return DebugCommand(command, config, other)


def _use_generated_data(config, overrides, data_dir: str, split=None) -> None:
  """KITTI-STEP rows read the generated STEP-format set of
  `configs/synthetic_step.py:debug` (same format, 2 short videos); data
  fields the command sets itself (e.g. data.num_refs, data.train_split) are
  kept, and so are those a config argument changed (`:trainval`'s
  train_split). The other configs' `:debug` sets are generated in their own format;
  a command asking for an unlabelled split gets one there."""
  from video_knet_jax.configs import kitti_step  # pylint: disable=g-import-not-at-top
  from video_knet_jax.configs import synthetic_step  # pylint: disable=g-import-not-at-top
  if config.data.name == "kitti_step":
    generated = synthetic_step.get_config("debug")
    plain = kitti_step.get_config("debug").data   # what an argument did not change.
    for key, value in generated.data.items():
      if f"data.{key}" not in overrides and config.data.get(key) == plain.get(key):
        config.data[key] = value
    if "train.num_train_frames" not in overrides:
      config.train.num_train_frames = generated.train.num_train_frames
  if split in ("test", "valid"):
    if config.data.name in ("kitti_step", "synthetic_step"):
      config.data.synthetic.num_test_sequences = 1
    elif config.data.name == "vipseg":
      config.data.generated.num_test = 1
    elif config.data.name == "youtube_vis":
      config.data.synthetic.num_valid_videos = 1
  config.data.data_dir = data_dir
