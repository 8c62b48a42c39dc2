"""Python's cycle collector held off while a consumer batch is being handled.

A batch keeps its events, models and rows alive until it commits: some hundreds of thousands of
objects. Every young collection that falls inside the batch walks all of them and frees none, and a
batch of 500 posts triggered about ten (4 % of each consumer's CPU in bench/pipeline.py). Held off
until the batch is done, the next collection finds them already freed by reference counting and walks
only what survived.

Consumers of one process overlap (the gateway runs several), so the pause is counted: the collector
is enabled again when the last batch in progress ends. So that overlapping batches under sustained
load never starve it, a batch that ends with more than `YOUNG_LIMIT` young objects pending runs the
collection that is due itself: the young generation, or an older one when as many young collections
have run as its threshold says (what the collector would do when enabled). A process whose collector
was already disabled (a test, a profiler) is left as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Three times the services' young threshold (app.tune_garbage_collector): between batches the
# collector runs as tuned; inside overlapping batches at most about this many young objects wait
# (at 100,000 the gateway's peak RSS in bench/pipeline.py rose from 209-222 to 250 MB; at 30,000, 225-228).
YOUNG_LIMIT = 30_000


class _Pause:
    depth = 0
    owned = False  # this module disabled the collector (and so enables it again)


_state = _Pause()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cycle collector off for the duration of one batch's handling (see the module)."""
    if _state.depth == 0:
        _state.owned = gc.isenabled()
        if _state.owned:
            gc.disable()
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.owned:
            if _state.depth == 0:
                gc.enable()
            elif gc.get_count()[0] > YOUNG_LIMIT:
                gc.collect(_generation_due())


def _generation_due() -> int:
    """The oldest generation whose count of younger collections has passed its threshold (0 if none)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1):
        if counts[generation] > thresholds[generation]:
            return generation
    return 0
