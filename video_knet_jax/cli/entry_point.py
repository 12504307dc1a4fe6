"""How train.py, evaluate.py and the converter end on a user error.

A user error (a bad flag, config field, file or directory) ends the process
with exit status 2 and ONE line on stderr naming the file or field and what
was expected; `--verbose` shows the Python traceback instead. Anything else
(a bug) keeps its traceback.
"""
import errno
import sys
import traceback

from absl import flags

_VERBOSE = flags.DEFINE_bool(
    "verbose", False, "Show the Python traceback of user errors (bad flags, "
    "config fields, files) instead of one line.")

EXIT_USER_ERROR = 2


class UserError(Exception):
  """An error the user fixes; the message names the file or field."""


def _from_config_dict(error: BaseException) -> bool:
  """AttributeError/KeyError raised by ml_collections for a missing field."""
  tb = error.__traceback__
  while tb is not None and tb.tb_next is not None:
    tb = tb.tb_next
  return tb is not None and "ml_collections" in tb.tb_frame.f_code.co_filename


def is_user_error(error: BaseException) -> bool:
  # ValueError covers the project's format errors (StepFormatError,
  # ScoringError, ConversionError, CheckpointMismatchError, ...), which name
  # the file or config field they refer to.
  if isinstance(error, (UserError, ValueError, FloatingPointError,
                        FileNotFoundError, NotADirectoryError,
                        IsADirectoryError, PermissionError)):
    return True
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EROFS,
                                                     errno.EDQUOT):
    return True
  return isinstance(error, (AttributeError, KeyError)) and _from_config_dict(error)


def describe(error: BaseException) -> str:
  """The one line printed for a user error."""
  message = str(error).strip()
  if isinstance(error, KeyError) and error.args:
    message = str(error.args[0])
  if isinstance(error, (AttributeError, KeyError)) and _from_config_dict(error):
    message = "config field " + message.strip("'\"").replace("\\n", " ").replace(
        "\n", " ").replace("\\'", "'")
  if isinstance(error, OSError) and error.filename and error.filename not in message:
    message = f"{error.filename}: {message}"
  message = " ".join(message.split())
  return f"error: {message} (--verbose shows the traceback)"


def _verbose(argv) -> bool:
  try:
    return bool(_VERBOSE.value)
  except flags.UnparsedFlagAccessError:
    return any(a in ("--verbose", "-verbose", "--verbose=true") for a in argv)


def fail(error: BaseException, argv=(), cause: BaseException | None = None
         ) -> None:
  """Prints one line (after the traceback of `cause or error` with --verbose)
  and exits with status 2."""
  if _verbose(argv or sys.argv):
    traceback.print_exception(cause or error)
  print(describe(error), file=sys.stderr, flush=True)
  sys.exit(EXIT_USER_ERROR)


def _flag_error_line(message: str) -> str:
  """ml_collections embeds a config file's traceback: keep its last line."""
  if "Traceback (most recent call last)" in message:
    head = message.split("Traceback (most recent call last)")[0]
    head = head.replace("Error whilst parsing config file:", "").strip(" :\n\t")
    last = [line for line in message.strip().splitlines() if line.strip()][-1]
    return f"{head}: {last.strip()}"
  return message


def _config_field_error(error: BaseException, argv) -> UserError:
  """Names the `--config.a.b` override whose field does not exist."""
  text = describe(error)
  overrides = [a.split("=")[0] for a in argv if a.startswith("--config.")]
  bad = [o for o in overrides if f"'{o.rsplit('.', 1)[-1]}'" in text]
  name = bad[0] if bad else "a --config override"
  hint = text.split("Did you mean", 1)
  hint = f" (did you mean{hint[1].split(' (--verbose')[0]})" if len(hint) > 1 else ""
  return UserError(f"{name}: no such config field{hint}")


def parse_flags(argv):
  """absl's flag parsing, with config mistakes as one-line user errors."""
  try:
    args = flags.FLAGS(argv)
  except flags.Error as e:
    fail(UserError(_flag_error_line(str(e))), argv, cause=e)
  except Exception as e:  # pylint: disable=broad-except
    if not is_user_error(e):
      raise
    if isinstance(e, (AttributeError, KeyError)):
      fail(_config_field_error(e, argv), argv, cause=e)
    fail(e, argv)
  for name in flags.FLAGS:
    value = flags.FLAGS[name].value
    if type(value).__name__ == "_ErrorConfig":  # a config file that failed to load
      error = getattr(value, "_error", None) or ValueError("cannot load")
      first = [line.strip() for line in str(error).splitlines() if line.strip()]
      fail(UserError(f"--{name}: {first[-1] if first else error}"), argv,
           cause=error if isinstance(error, BaseException) else None)
  return args


def guard(main):
  """Wraps an absl `main(argv)` so that user errors end in one line."""
  def guarded(argv):
    try:
      return main(argv)
    except Exception as e:  # pylint: disable=broad-except
      if not is_user_error(e):
        raise
      fail(e, argv)
  return guarded
