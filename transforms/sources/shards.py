"""A book generated in shards, and the numbers each shard may issue.

Why shards: the generator builds a book's whole history in memory before cutting the
deliveries from it, about 1.9 GiB at 1,000,000 contracts and growing with the book (19 GB at
10M). A book above the shard size (`DEFAULT_SHARD_CONTRACTS`) is therefore built as
S = ceil(contracts / shard size) shards of near-equal size, each an independent book of its
own customers, contracts, claims, quotes and subject requests, generated, appended to the
delivery files and dropped before the next one: peak memory is one shard's, whatever the book.

Randomness: shard 0 draws from the book's own seed streams (`rng_for(seed, stream)`), so that a
book of one shard is byte-identical to what the generator wrote before shards existed; shard
s > 0 from the same streams under a seed derived from (seed, s). The name and street pools and
the dealer and repairer networks are the book's, shared by every shard (a repairer is one
business with one bank account, whichever shard's claim it repairs).

Numbering: every identifier a source system issues in order (contract, customer, claim, quote,
transaction, consent change and request numbers) is unique across the book and keeps its
documented width (docs/source-contract.md; transforms/privacy/identifiers.FORMATS). Each shard
numbers inside its own block of the number space: the space from the number's usual first
value (`NumberSpace.base`) to the largest of its width is cut into one block per shard, sized in
proportion to the shard's contracts. Inside a block a shard keeps the usual random start and
mean gap when they fit, and otherwise narrows them, down to dense numbering (gap 1). Contract
numbers (`OPW-` + 7 digits) are the tight space: up to 9,000,000 contracts they start at
1,000,000 as ever, above that they start lower (OPW-0000000 is a valid number), and a book of
more than `MAX_CONTRACTS` is refused before anything is written. A book of one shard has the
whole space as its block, hence exactly its former numbers.

Identifiers drawn at random rather than issued (VINs, plates, emails, phones, IBANs, licence
numbers) are drawn per shard as they are per book: they may coincide across shards as rarely
as they coincide within a book of that shard's size (emails are only made unique-ish within a
shard, as within a book).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from transforms.sources.common import sequential_ids

DEFAULT_SHARD_CONTRACTS = 1_000_000
"""Contracts per shard: about 1.9 GiB of generator memory at the default; smaller costs time
(each shard has fixed costs), larger costs memory."""


class BookTooLargeError(ValueError):
    """The book needs more numbers than a source identifier's format holds."""


@dataclass(frozen=True)
class NumberSpace:
    """How a source system issues one kind of number: `prefix` + `width` digits, starting at
    `base` plus a random offset below `spread`, with gaps of mean `gap` (the numbers a
    generation of one shard has always issued)."""

    name: str
    prefix: str
    width: int
    base: int
    spread: int
    gap: float

    @property
    def top(self) -> int:
        """One past the largest number of the width."""
        return 10 ** self.width


CONTRACT_NUMBERS = NumberSpace("contract numbers", "OPW-", 7, 1_000_000, 90_000, 2.5)
CUSTOMER_NUMBERS = NumberSpace("customer numbers", "C", 8, 10_000_000, 500_000, 2.2)
CLAIM_NUMBERS = NumberSpace("claim numbers", "CLM-", 8, 10_000_000, 2_000_000, 1.3)
TRANSACTION_IDS = NumberSpace("transaction ids", "TX", 10, 1_000_000_000, 500_000_000, 1.6)
QUOTE_NUMBERS = NumberSpace("quote numbers", "Q", 9, 100_000_000, 50_000_000, 1.8)
CHANGE_IDS = NumberSpace("consent change ids", "CC", 8, 10_000_000, 5_000_000, 1.4)
REQUEST_IDS = NumberSpace("subject request ids", "DSR-", 6, 100_000, 300_000, 1.5)

MAX_CONTRACTS = CONTRACT_NUMBERS.top
"""The most contracts a book can hold: one contract number each, 7 digits."""


@dataclass(frozen=True)
class Shard:
    """One shard of a book: its place (`index` of `count`), its contracts, and the contracts
    of the shards before it (which place its blocks of numbers)."""

    book_seed: int
    book_contracts: int
    contracts: int
    index: int = 0
    count: int = 1
    before: int = 0

    @property
    def seed(self) -> int:
        """The seed of this shard's streams: the book's for shard 0, else one derived from
        (book seed, index) with SHA-256 (stable across processes and platforms)."""
        if self.index == 0:
            return self.book_seed
        digest = hashlib.sha256(f"shard/{self.book_seed}/{self.index}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    @property
    def sharded(self) -> bool:
        """Whether the book has other shards (then the networks are drawn book-wide)."""
        return self.count > 1


def whole_book(seed: int, contracts: int) -> Shard:
    """A book of one shard: its own seed streams, the whole of every number space."""
    return Shard(book_seed=seed, book_contracts=contracts, contracts=contracts)


def shard_count(contracts: int, shard_contracts: int) -> int:
    if shard_contracts < 1:
        raise ValueError("the shard size must be at least 1 contract")
    return max(1, math.ceil(contracts / shard_contracts))


def plan(seed: int, contracts: int, shard_contracts: int = DEFAULT_SHARD_CONTRACTS
         ) -> list[Shard]:
    """The shards of a book: ceil(contracts / shard_contracts) of them, sizes differing by at
    most one contract (the larger first)."""
    check_fits(contracts)
    count = shard_count(contracts, shard_contracts)
    size, extra = divmod(contracts, count)
    shards, before = [], 0
    for index in range(count):
        n = size + (index < extra)
        shards.append(Shard(book_seed=seed, book_contracts=contracts, index=index, count=count,
                            contracts=n, before=before))
        before += n
    return shards


def check_fits(contracts: int) -> None:
    """Refuse a book whose contracts cannot all have a number of the documented format."""
    if contracts > MAX_CONTRACTS:
        raise BookTooLargeError(
            f"a book holds at most {MAX_CONTRACTS:,} contracts (contract numbers are "
            f"{CONTRACT_NUMBERS.prefix} + {CONTRACT_NUMBERS.width} digits); {contracts:,} asked")


def block(space: NumberSpace, shard: Shard, need: int = 0) -> tuple[int, int]:
    """The shard's numbers [low, high) of `space`: its share, in proportion to its contracts,
    of the space from `base` (lowered so that `need` numbers fit above it) to the top."""
    low = max(0, min(space.base, space.top - need))
    room = space.top - low
    total = max(shard.book_contracts, 1)
    return (low + room * shard.before // total,
            low + room * (shard.before + shard.contracts) // total)


def _reach(n: int, gap: float) -> float:
    """A bound on last - first + 1 of n numbers with gaps of mean `gap`: the gaps beyond 1 sum
    to a Poisson count, held within ten standard deviations."""
    extra = max(n - 1, 0) * (gap - 1.0)
    return max(n - 1, 0) + extra + 10.0 * math.sqrt(extra) + 1.0


def _widest_gap(n: int, room: int, gap: float) -> float:
    """The largest mean gap, at most `gap`, whose n numbers fit `room` (1: dense)."""
    slack = room - n
    if n < 2 or slack <= 0:
        return 1.0
    root = (-10.0 + math.sqrt(100.0 + 4.0 * slack)) / 2.0  # extra + 10 sqrt(extra) = slack
    return min(gap, 1.0 + root * root / (n - 1))


def issue(rng: np.random.Generator, n: int, space: NumberSpace, shard: Shard,
          need: int = 0) -> np.ndarray:
    """`n` increasing unique numbers for `shard` inside its block of `space`.

    Usual start and mean gap when they fit the block (always for a book of one shard up to a few
    million contracts: the numbers it always had, drawn from `rng` as before); otherwise a start
    offset of at most a tenth of the slack and the widest mean gap that fits, dense when there is
    no slack. Should the random gaps overrun the block all the same (beyond ten standard
    deviations), the shard is numbered densely from its block's start.
    """
    low, high = block(space, shard, need)
    room = high - low
    if n > room:
        raise BookTooLargeError(
            f"{n:,} {space.name} do not fit the {room:,} numbers of shard {shard.index} "
            f"({space.prefix} + {space.width} digits)")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    spread, gap = space.spread, space.gap
    if spread + _reach(n, gap) > room:
        spread = min(spread, (room - n) // 10)
        gap = _widest_gap(n, room - spread, gap)
    numbers = sequential_ids(rng, n, low + int(rng.integers(0, max(spread, 1))), gap)
    if numbers[-1] >= high:
        numbers = low + np.arange(n, dtype=np.int64)
    return numbers
