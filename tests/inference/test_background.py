"""prefetch / WriteBehind: order, bounded look-ahead, errors in the caller."""
import threading
import time

import pytest

from video_knet_jax.inference import background


def test_prefetch_keeps_order_and_reads_at_most_size_ahead():
  produced = []

  def items():
    for i in range(6):
      produced.append(i)
      yield i

  got = []
  stream = background.prefetch(items(), size=2)
  got.append(next(stream))
  time.sleep(0.3)                  # the producer runs ahead while we wait...
  assert len(produced) <= 1 + 2 + 1   # ...by at most size (+1 in its hand).
  got.extend(stream)
  assert got == list(range(6))


def test_prefetch_raises_the_producers_error_after_its_items():
  def items():
    yield 1
    yield 2
    raise ValueError("bad frame 3")

  got = []
  with pytest.raises(ValueError, match="bad frame 3"):
    for x in background.prefetch(items()):
      got.append(x)
  assert got == [1, 2]


def test_closing_prefetch_stops_the_producer():
  stop = threading.Event()

  def items():
    i = 0
    while not stop.is_set():
      yield i
      i += 1

  stream = background.prefetch(items(), size=1)
  assert next(stream) == 0
  stream.close()                   # joins the producer thread: must not hang.
  stop.set()


def test_write_behind_runs_in_order_and_reports_errors():
  seen = []
  writer = background.WriteBehind(seen.append)
  for i in range(5):
    writer.submit(i)
  writer.close()
  assert seen == list(range(5))

  def handle(i):
    if i == 1:
      raise OSError("disk full")
    seen.append(i)

  writer = background.WriteBehind(handle)
  writer.submit(0)
  writer.submit(1)
  with pytest.raises(OSError, match="disk full"):
    for i in range(2, 50):
      writer.submit(i)
      time.sleep(0.01)
    writer.close()
