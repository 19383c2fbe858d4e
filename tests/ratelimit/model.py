"""Pure-Python reference models of the rate-limit scripts, with the same semantics.

Each model keeps its state in plain Python and answers ``(allowed, remaining, retry_us,
reset_us)`` for a check at an injected ``now`` (microseconds), exactly as the Lua script
would. The property tests drive both with the same random sequences and require identical
answers. The arithmetic follows the scripts step by step (the same float operations), so
rounding matches too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Answer = tuple[int, int, int, int]


@dataclass
class TokenBucketLimit:
    capacity: int
    interval: float  # microseconds per token
    tat: int | None = None

    def check(self, now: int, cost: int) -> tuple[bool, int, int, int, int]:
        burst = math.floor(self.capacity * self.interval + 0.5)
        tat = now if self.tat is None else max(self.tat, now)
        new_tat = tat + math.floor(cost * self.interval + 0.5)
        if new_tat - now > burst:
            return (
                False,
                math.floor((burst - (tat - now)) / self.interval),
                new_tat - now - burst,
                tat - now,
                new_tat,
            )
        return (
            True,
            math.floor((burst - (new_tat - now)) / self.interval),
            0,
            new_tat - now,
            new_tat,
        )

    def commit(self, now: int, cost: int, new_tat: int) -> None:
        self.tat = new_tat


@dataclass
class SlidingWindowLimit:
    limit: int
    window: int
    entries: list[tuple[int, int]] = field(default_factory=list)  # (time, cost)

    def check(self, now: int, cost: int) -> tuple[bool, int, int, int, None]:
        self.entries = [(t, c) for t, c in self.entries if t > now - self.window]
        used = sum(c for _, c in self.entries)
        if used + cost > self.limit:
            need, freed = used + cost - self.limit, 0
            for t, c in self.entries:
                freed += c
                if freed >= need:
                    retry = t + self.window - now
                    break
            reset = self.entries[-1][0] + self.window - now
            return False, self.limit - used, retry, reset, None
        return True, self.limit - used - cost, 0, self.window, None

    def commit(self, now: int, cost: int, _: None) -> None:
        self.entries.append((now, cost))


@dataclass
class FixedWindowLimit:
    limit: int
    window: int
    index: int | None = None
    count: int = 0

    def check(self, now: int, cost: int) -> tuple[bool, int, int, int, int]:
        index = now // self.window
        count = self.count if self.index == index else 0
        reset = (index + 1) * self.window - now
        if count + cost > self.limit:
            return False, self.limit - count, reset, reset, index
        return True, self.limit - count - cost, 0, reset, index

    def commit(self, now: int, cost: int, index: int) -> None:
        self.count = (self.count if self.index == index else 0) + cost
        self.index = index


@dataclass
class ApproxSlidingWindowLimit:
    limit: int
    window: int
    index: int | None = None
    prev: int = 0
    curr: int = 0

    def _counts(self, index: int) -> tuple[int, int]:
        if self.index == index:
            return self.prev, self.curr
        if self.index == index - 1:
            return self.curr, 0
        return 0, 0

    def check(self, now: int, cost: int) -> tuple[bool, int, int, int, int]:
        index = now // self.window
        prev, curr = self._counts(index)
        elapsed = now - index * self.window
        estimate = math.floor(prev * (self.window - elapsed) / self.window) + curr
        allowed = estimate + cost <= self.limit
        retry = 0
        if not allowed:
            if curr + cost <= self.limit:
                at = self.window - (self.limit - curr - cost + 1) * self.window / prev
                retry = math.floor(at) + 1 - elapsed
            else:
                at = self.window - (self.limit - cost + 1) * self.window / curr
                retry = self.window - elapsed + max(0, math.floor(at) + 1)
        left = self.limit - estimate - cost if allowed else max(0, self.limit - estimate)
        after = curr + cost if allowed else curr
        reset = 0
        if after > 0:
            reset = (index + 2) * self.window - now
        elif prev > 0:
            reset = (index + 1) * self.window - now
        return allowed, left, retry, reset, index

    def commit(self, now: int, cost: int, index: int) -> None:
        prev, curr = self._counts(index)
        self.index, self.prev, self.curr = index, prev, curr + cost


class Model:
    """Several limits of one algorithm, checked all-or-nothing like the scripts."""

    def __init__(self, limits: list) -> None:  # type: ignore[type-arg]
        self.limits = limits

    def check(self, now: int, cost: int, consume: bool) -> Answer:
        answers = [limit.check(now, cost) for limit in self.limits]
        allowed = all(a[0] for a in answers)
        if allowed and consume:
            for limit, answer in zip(self.limits, answers, strict=True):
                limit.commit(now, cost, answer[4])
        return (
            int(allowed),
            min(a[1] for a in answers),
            max(a[2] for a in answers),
            max(a[3] for a in answers),
        )
