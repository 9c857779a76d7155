"""The fuzz harness: one :class:`Target` per place hostile input enters (docs/testing.md).

A target is a hypothesis strategy of inputs and a ``check(input)`` that feeds one input to the
code under test. The oracle is the project's rule for bad input: the call returns, or raises a
:class:`~spikemesh.errors.SpikemeshError` whose message is not empty. Any other exception, a
hang (``signal`` timer) or an allocation past the memory guard (``RLIMIT_AS``) fails the input,
and hypothesis shrinks it to a minimal one.

CI runs a few seeded examples per target (``tests/fuzz/test_fuzz.py``); ``bench/run_fuzz.py``
runs the long campaign (>= 100,000 inputs per target) with the same targets.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed

from spikemesh.errors import SpikemeshError


class Hang(Exception):
    """An input ran past its target's time limit."""


@contextlib.contextmanager
def hang_guard(seconds: float):
    """Raise :class:`Hang` in the main thread after ``seconds`` (a loop that never ends)."""

    def alarm(signum, frame):
        raise Hang(f"input still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_guard(extra_bytes: int):
    """Let the input allocate at most ``extra_bytes`` more address space (soft RLIMIT_AS).

    A huge size in a hostile file must fail fast with a clear error, not push the machine
    into the OOM killer; past the guard numpy raises MemoryError, which the oracle counts
    as a crash unless the code turned it into its own error.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def expect_clean(call, *args, **kwargs):
    """Run ``call``; a SpikemeshError with a message is a clean refusal, anything else is not."""
    try:
        return call(*args, **kwargs)
    except SpikemeshError as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        return e


@dataclass
class Target:
    """One fuzz target.

    Members
    -------
    name : str
    strategy : hypothesis strategy of inputs
    check : callable(input)
        Feeds one input; raises (anything but a clean refusal) on a bug.
    ci_examples : int
        Examples per CI run (the whole fuzz suite stays within ~40 s on 2 cores).
    long_examples : int
        Examples of the ``slow`` test (``make test-long``); the campaign is bench/run_fuzz.py.
    timeout : float
        Seconds one input may take before it counts as a hang.
    memory : int
        Bytes of address space one input may add.
    """

    name: str
    strategy: object
    check: object
    ci_examples: int = 100
    long_examples: int = 5000
    timeout: float = 20.0
    deadline_ms: float = 10_000
    memory: int = 3 << 30
    counts: dict = field(default_factory=lambda: {"inputs": 0, "refused": 0})

    def one(self, inp):
        self.counts["inputs"] += 1
        with hang_guard(self.timeout), memory_guard(self.memory):
            out = self.check(inp)
        if isinstance(out, SpikemeshError):
            self.counts["refused"] += 1

    def run(self, examples: int | None = None, *, seed: int | None = None, shrink=True):
        """Run ``examples`` inputs (CI's count by default); derandomized unless ``seed``."""
        phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
        cfg = settings(
            max_examples=examples or self.ci_examples,
            deadline=self.deadline_ms,
            derandomize=seed is None,
            database=None,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )

        def fuzz(inp):  # a plain function, so that hypothesis prints the failing input
            self.one(inp)

        fuzz.__name__ = f"fuzz_{self.name.replace('-', '_')}"
        test = cfg(given(self.strategy)(fuzz))
        if seed is not None:
            test = hyp_seed(seed)(test)
        t0 = time.perf_counter()
        test()
        return time.perf_counter() - t0


def long_run() -> bool:
    return os.environ.get("SPIKEMESH_LONG", "") not in ("", "0")
