"""`--shard K/N`: which entries one of N cooperating processes dispatches (docs/guides/sharding.md).

An entry's shard is a jump consistent hash of its dispatch key, so it is the same on every
machine, Python version and working directory, adding an entry never moves another, and
going from N to N+1 shards moves only about 1/(N+1) of the entries.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")
_MASK = (1 << 64) - 1


class Keyed(Protocol):
    """What sharding reads of an entry (`launcher.entry.Entry`)."""

    @property
    def key(self) -> str: ...


E = TypeVar("E", bound=Keyed)


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash: a bucket in [0, buckets)."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def owns(self, key: str) -> bool:
        """Whether the entry with this dispatch key (hex) belongs to this shard."""
        return jump_hash(int(key[:16], 16), self.count) == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_flag(text: str) -> Shard:
    """The `--shard K/N` converter: 1 <= K <= N; anything else is a usage error (exit 2)."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not K/N (shard K of N, counted from 1: e.g. 1/3, 2/3, 3/3)"
        )
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of shards N must be at least 1")
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(
            f"{text!r}: K must be between 1 and {count} (shards are counted from 1)"
        )
    return Shard(index, count)


def select_shard(entries: Sequence[E], shard: Shard | None) -> list[E]:
    """The entries of `shard`, in their order (all of them without a shard)."""
    if shard is None:
        return list(entries)
    return [e for e in entries if shard.owns(e.key)]
