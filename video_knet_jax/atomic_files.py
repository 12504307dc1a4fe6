"""Writing results so that a kill never leaves a file that looks complete.

Files are written to a temporary name in the same directory and renamed into
place (`os.replace` is atomic on POSIX file systems); folders are filled under
a `.partial` name and swapped in when complete. After a kill, a reader finds
either the previous complete result or the new one, plus at most a
`*.partial*` leftover that says what it is.
"""
import contextlib
import json
import os
import shutil
from typing import Any, Iterator

PARTIAL = ".partial"


def write_text(path: str, text: str) -> None:
  """Writes `text` to `path` atomically (temp file + rename)."""
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  temp = f"{path}{PARTIAL}-{os.getpid()}"
  try:
    with open(temp, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(temp)
    raise


def write_json(path: str, obj: Any, **dump_kwargs) -> None:
  write_text(path, json.dumps(obj, **dump_kwargs) + "\n")


@contextlib.contextmanager
def directory(path: str) -> Iterator[str]:
  """Yields a temporary sibling of `path` to fill; swaps it in on success.

  On an exception the temporary folder is removed and `path` (if it existed)
  is left as it was.
  """
  path = os.path.abspath(path.rstrip("/"))
  temp = f"{path}{PARTIAL}-{os.getpid()}"
  shutil.rmtree(temp, ignore_errors=True)
  os.makedirs(temp)
  try:
    yield temp
  except BaseException:
    shutil.rmtree(temp, ignore_errors=True)
    raise
  replace_directory(temp, path)


def replace_directory(source: str, target: str) -> None:
  """Moves folder `source` onto `target`, replacing an existing `target`."""
  old = f"{target}.old-{os.getpid()}"
  if os.path.exists(target):
    os.rename(target, old)
  os.rename(source, target)
  shutil.rmtree(old, ignore_errors=True)
