"""Decode ahead and write behind in threads, so host work overlaps the model.

`predict` decodes a frame, runs the model, and encodes PNGs, an overlay MP4
and a GIF per frame. JAX dispatches the model asynchronously, so whatever the
main thread does between two dispatches delays the next frame; `prefetch`
decodes (and resizes) up to `size` frames ahead in a thread, `WriteBehind`
runs the per-frame writing in another, both with bounded queues (memory stays
flat) and errors re-raised in the main thread in order. Decoding (PyAV),
PNG/zlib and H.264 encoding release the GIL.
"""
import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
  """Puts unless `stop` is set first; returns whether it was put."""
  while not stop.is_set():
    try:
      q.put(item, timeout=0.1)
      return True
    except queue.Full:
      continue
  return False


def prefetch(items: Iterable[T], size: int = 2) -> Iterator[T]:
  """Yields `items`, produced up to `size` ahead in a background thread.

  An exception of the producer is raised here, after the items before it;
  closing the generator stops the producer.
  """
  q: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()

  def produce():
    try:
      for item in items:
        if not _put(q, (item, None), stop):
          return
      _put(q, (_DONE, None), stop)
    except BaseException as e:  # pylint: disable=broad-except  (re-raised below)
      _put(q, (_DONE, e), stop)

  thread = threading.Thread(target=produce, daemon=True, name="prefetch")
  thread.start()
  try:
    while True:
      item, error = q.get()
      if item is _DONE:
        if error is not None:
          raise error
        return
      yield item
  finally:
    stop.set()
    thread.join()


class WriteBehind(Generic[T]):
  """Runs `handle(item)` for each submitted item, in order, in one thread.

  At most `size` items wait. An exception in `handle` is raised by the next
  `submit` or by `close` (which waits for everything submitted).
  """

  def __init__(self, handle: Callable[[T], None], size: int = 2):
    self._handle = handle
    self._queue: queue.Queue = queue.Queue(maxsize=size)
    self._error = None
    self._thread = threading.Thread(target=self._run, daemon=True, name="write-behind")
    self._thread.start()

  def _run(self):
    while True:
      item = self._queue.get()
      if item is _DONE:
        return
      if self._error is None:
        try:
          self._handle(item)
        except BaseException as e:  # pylint: disable=broad-except  (re-raised in submit/close)
          self._error = e

  def _raise(self):
    if self._error is not None:
      error, self._error = self._error, None
      raise error

  def submit(self, item: T) -> None:
    self._raise()
    self._queue.put(item)

  def close(self) -> None:
    """Waits for every submitted item; raises the first error of `handle`."""
    if self._thread.is_alive():
      self._queue.put(_DONE)
      self._thread.join()
    self._raise()
