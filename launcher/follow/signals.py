"""SIGINT and SIGTERM while a follow-through command works: the one way its work is cut
short, at the next checkpoint (each ledger append is durable once written)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from launcher.dispatch.drain import SIGNALS

T = TypeVar("T")


async def until_signal(work: Callable[[], Awaitable[T]]) -> list[T]:
    """[work()], or [] once SIGINT or SIGTERM arrives (work is then cancelled)."""
    done: list[T] = []
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(*SIGNALS) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signal)
        done.append(await work())
        tg.cancel_scope.cancel()
    return done
