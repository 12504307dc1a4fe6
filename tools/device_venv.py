#!/usr/bin/env python3
r"""A virtual environment holding only what the GPU machine has, in about a second.

  python tools/device_venv.py DIR      # then: DIR/bin/python tools/device_benchmark.py --tiny

The lent GPU machine (docs/BENCHMARKS.md) has jax, flax, optax,
orbax-checkpoint, chex, numpy, absl-py, pillow and what they require, and no
TensorFlow, TFDS, clu, pycocotools or ml-collections; ml-collections travels
there as a wheel. This makes the same set here from the distributions
installed in the running interpreter (a venv's or the system's): a new venv
without pip and without system site-packages, whose site-packages links
every file (RECORD) of exactly those distributions: `DEVICE_ROOTS` and
`CARRIED` with their requirements. Nothing is downloaded or copied; the
result imports what the device can import, and fails to import the rest.
"""
import importlib.metadata
import os
import subprocess
import sys
import time

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# What the benchmark imports that the device image has (tools/device_image_packages.txt).
DEVICE_ROOTS = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "numpy",
                "absl-py", "pillow")
# Pure-Python wheels that travel with the working tree (--no-deps: their own
# requirements must be on the device).
CARRIED = ("ml-collections",)
DEVICE_PACKAGES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "device_image_packages.txt")


def device_image_packages() -> set[str]:
  """The device image's distributions, as listed in tools/device_image_packages.txt."""
  with open(DEVICE_PACKAGES_FILE) as f:
    return {canonicalize_name(line.strip()) for line in f
            if line.strip() and not line.startswith("#")}


def requirement_closure(roots) -> dict[str, importlib.metadata.Distribution]:
  """The installed distributions `roots` need (extras followed, markers
  evaluated for this interpreter), by canonical name."""
  found, todo, done = {}, [(name, ()) for name in roots], set()
  while todo:
    name, extras = todo.pop()
    key = (canonicalize_name(name), tuple(sorted(extras)))
    if key in done:
      continue
    done.add(key)
    try:
      dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as e:
      raise RuntimeError(f"{name} is not installed in {sys.executable} (needed by the "
                         "device environment).") from e
    found[key[0]] = dist
    for line in dist.requires or []:
      req = Requirement(line)
      environments = [{"extra": e} for e in ("",) + tuple(extras)]
      if req.marker is None or any(req.marker.evaluate(env) for env in environments):
        todo.append((req.name, tuple(req.extras)))
  return found


def is_pure_python(dist: importlib.metadata.Distribution) -> bool:
  """The distribution's WHEEL says purelib and a py3-none-any tag."""
  wheel = dist.read_text("WHEEL") or ""
  return "Root-Is-Purelib: true" in wheel and "py3-none-any" in wheel


def build(directory: str) -> dict:
  """Makes the venv in `directory`; returns {python, distributions, seconds}."""
  start = time.perf_counter()
  dists = requirement_closure(DEVICE_ROOTS + CARRIED)
  image = device_image_packages()
  carried = {canonicalize_name(n) for n in CARRIED}
  missing = sorted(n for n in dists if n not in image and n not in carried)
  if missing:
    raise RuntimeError(f"Not on the device image (tools/device_image_packages.txt): {missing}; "
                       "carry them as wheels (CARRIED) or drop what imports them.")
  impure = sorted(n for n in carried if not is_pure_python(dists[n]))
  if impure:
    raise RuntimeError(f"Carried wheels must be pure Python (py3-none-any): {impure}.")
  # --without-pip: no pip, setuptools or wheel inside (seconds saved, and
  # nothing there the device lacks).
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", directory], check=True)
  python = os.path.join(directory, "bin", "python")
  site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        check=True, capture_output=True, text=True).stdout.strip()
  linked = 0
  for dist in dists.values():
    base = os.path.abspath(str(dist.locate_file("")))
    for path in dist.files or []:
      if str(path).startswith(".."):       # scripts outside site-packages.
        continue
      source = os.path.join(base, str(path))
      if not os.path.exists(source):       # RECORD can list files pip did not write.
        continue
      target = os.path.join(site, str(path))
      os.makedirs(os.path.dirname(target), exist_ok=True)
      if not os.path.lexists(target):
        os.symlink(source, target)
        linked += 1
  return {"python": python, "distributions": {n: d.version for n, d in sorted(dists.items())},
          "files_linked": linked, "seconds": round(time.perf_counter() - start, 2)}


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: {sys.argv[0]} DIR")
  info = build(sys.argv[1])
  print(f"{info['python']}: {len(info['distributions'])} distributions, "
        f"{info['files_linked']} files linked in {info['seconds']} s")
