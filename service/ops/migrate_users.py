"""``python -m service.ops.migrate_users``: rebuild every user's state under the configured model
(MICRO_CHECKPOINT, same MICRO_* settings as the service) from the labelled pairs and context kept
outside the model version, ahead of traffic (otherwise each user is rebuilt on first use, see
service/inference/user_history.py). Users that already have a state under this version are left alone.

    MICRO_CHECKPOINT=checkpoints/v2 MICRO_REDIS_URL=redis://... python -m service.ops.migrate_users [--dry-run]

Prints one JSON line: users found, rebuilt, already current, failed.

``--prompt-forms``: also rebuild, under this same version, the users whose kept history holds a
chat prompt that now reads differently (model/text_format.py: system messages are no longer read,
a single user message reads as the plain prompt; before, ``User: ...\n\nAssistant:``), so their
weights are what those labels give today. A user whose state counts more labels than the history
keeps (MICRO_HISTORY_MAX) is left as it is (``longer_than_history``): the rebuild would drop the older labels.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator

from pydantic import ValidationError

from service.core.config import Settings
from service.core.errors import ServiceError
from service.core.logs import redact
from service.inference.runtime import Runtime, StartupError, running

log = logging.getLogger("service.ops.migrate_users")
KEPT_SUFFIXES = (":history", ":context")


async def kept_users(runtime: Runtime) -> AsyncIterator[str]:
    """Every user id with a kept history or context (each once), from a SCAN of the kept keys."""
    store, seen = runtime.store, set()
    pattern = f"{store.key_schema.prefix}:users:{{*}}:*"
    async for key in store.redis.scan_iter(match=pattern, count=1000):
        if not key.endswith(KEPT_SUFFIXES):
            continue
        user = key[key.index("{") + 1: key.rindex("}")]
        if user not in seen:
            seen.add(user)
            yield user


async def given(users: list[str]) -> AsyncIterator[str]:
    for user in dict.fromkeys(users):
        yield user


def reads_differently(item: str) -> bool:
    """A kept label whose chat prompt the one-text release reads differently: it has a system
    message, or is a single user message."""
    try:
        messages = json.loads(item).get("messages") or []
        return any(m["role"] == "system" for m in messages) or [m["role"] for m in messages] == ["user"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


async def stale_prompt_forms(runtime: Runtime, user: str, counts: dict[str, int]) -> bool:
    """Whether the user's state is due a rebuild for its prompt forms (counted when it is not safe)."""
    snapshot = await runtime.store.read(user)
    items, _ = await runtime.store.kept(user)
    if snapshot.state is None or not any(map(reads_differently, items)):
        return False
    if snapshot.state.n_feedback > len(items):
        counts["longer_than_history"] += 1
        return False
    return True


async def migrate(settings: Settings, *, dry_run: bool, concurrency: int, users: list[str] | None = None,
                  prompt_forms: bool = False) -> dict[str, int]:
    """Rebuild the given users (store ids: ``<tenant>/<id>`` with auth on), or every kept one."""
    counts = {"found": 0, "rebuilt": 0, "current": 0, "failed": 0}
    if prompt_forms:
        counts |= {"prompt_forms": 0, "longer_than_history": 0}
    async with running(settings) as runtime:
        permits = asyncio.Semaphore(concurrency)

        async def one(user: str) -> None:
            async with permits:
                try:
                    if prompt_forms and await stale_prompt_forms(runtime, user, counts):
                        counts["prompt_forms"] += 1
                        if not dry_run:
                            await runtime.store.drop_state(user)
                            await runtime.engine.rebuild(user)
                            counts["rebuilt"] += 1
                    elif not (await runtime.store.read(user)).rebuild:
                        counts["current"] += 1
                    elif not dry_run:
                        await runtime.engine.rebuild(user)
                        counts["rebuilt"] += 1
                except ServiceError as exc:
                    counts["failed"] += 1
                    log.warning("user not rebuilt: %s", exc.detail)

        tasks = []
        async for user in given(users) if users else kept_users(runtime):
            counts["found"] += 1
            tasks.append(asyncio.ensure_future(one(user)))
        await asyncio.gather(*tasks)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.ops.migrate_users", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="count the users to rebuild, write nothing")
    parser.add_argument("--concurrency", type=int, default=8, help="users rebuilt at once (default 8)")
    parser.add_argument("--users", nargs="+", metavar="ID",
                        help="only these users (store ids: <tenant>/<id> with MICRO_AUTH=on); default: all kept")
    parser.add_argument("--prompt-forms", action="store_true",
                        help="also rebuild users labelled with chat prompts that now read differently (see above)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        counts = asyncio.run(migrate(Settings(), dry_run=args.dry_run, concurrency=max(1, args.concurrency),
                                     users=args.users, prompt_forms=args.prompt_forms))
    except ValidationError as exc:
        print(f"invalid MICRO_* settings: {exc.error_count()} errors", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(redact(f"cannot start: {exc}"), file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
