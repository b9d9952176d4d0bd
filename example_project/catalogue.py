"""The shop both example apps sell from: deterministic fake data and deliberately costly work.

Why fake data and not a database: the example must run on a fresh machine with one command, so
it has no migrations and no SQLite file. The catalogue is generated from a fixed seed, so every
run (and every test) sees the same products, the same sales ledger and the same report numbers.

Why the work is costly on purpose: a cache only shows its worth in front of something slow.
:func:`sales_report` scans a ledger of tens of thousands of sales (tens of milliseconds) and
:func:`related_products` scores every product against one (a few milliseconds); the apps cache
their output, and the ``X-Cache`` header and the ``/cache`` report show the difference.
:data:`CALLS` counts how often each costly function really ran, so tests can tell a cache hit
from a recomputation without timing anything.

Nothing here imports Django or Flask.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import random
import threading
from collections.abc import Sequence
from typing import Final

__all__ = [
    "CALLS",
    "CATEGORIES",
    "PRODUCT_COUNT",
    "CategoryReport",
    "Product",
    "Ratings",
    "bestsellers",
    "get_product",
    "products",
    "products_in",
    "related_products",
    "sales_report",
]

#: The seed of every generated thing; changing it changes the shop, never its shape.
SEED: Final = 20240601
#: Enough products that a Zipf-distributed visitor mix has a long tail of rarely seen pages
#: (what makes eviction policies differ), few enough to generate in a few milliseconds.
PRODUCT_COUNT: Final = 500
#: Sales in the ledger. 40,000 rows make one report cost ~10-20 ms of pure Python: slow enough
#: to matter per request, fast enough for the demo to run its misses in seconds.
SALES_COUNT: Final = 40_000

CATEGORIES: Final[tuple[str, ...]] = (
    "kitchen",
    "garden",
    "office",
    "outdoor",
    "lighting",
    "storage",
)
_ADJECTIVES: Final = (
    "Compact", "Sturdy", "Folding", "Classic", "Modular", "Quiet", "Solar", "Bamboo",
    "Steel", "Nordic", "Pocket", "Deluxe", "Rustic", "Smart", "Ceramic", "Woven",
)  # fmt: skip
_NOUNS: Final = {
    "kitchen": ("Kettle", "Whisk", "Skillet", "Grinder", "Colander", "Cutting Board"),
    "garden": ("Trowel", "Planter", "Hose Reel", "Pruner", "Seed Tray", "Watering Can"),
    "office": ("Desk Lamp", "Stapler", "Notebook", "Monitor Stand", "Chair Mat", "Pen Cup"),
    "outdoor": ("Lantern", "Hammock", "Cooler", "Camp Stool", "Tarp", "Firepit"),
    "lighting": ("Pendant", "Floor Lamp", "String Lights", "Sconce", "Bulb Set", "Dimmer"),
    "storage": ("Crate", "Shelf", "Basket", "Drawer Set", "Hook Rail", "Tote"),
}


@dataclasses.dataclass(frozen=True)
class Product:
    """One catalogue entry; immutable, so a page rendered from it can be cached safely."""

    pk: int
    name: str
    category: str
    price_cents: int
    rating: float
    tags: tuple[str, ...]
    description: str

    @property
    def price(self) -> str:
        """The price as shown on a page (``"12.50"``)."""
        return f"{self.price_cents // 100}.{self.price_cents % 100:02d}"


@dataclasses.dataclass(frozen=True)
class CategoryReport:
    """One row of the sales report."""

    category: str
    orders: int
    units: int
    revenue_cents: int
    top_product: Product

    @property
    def revenue(self) -> str:
        """Revenue as shown on a page, with thousands separators."""
        return f"{self.revenue_cents // 100:,}.{self.revenue_cents % 100:02d}"


class _CallCounter:
    """Thread-safe counts of how often each costly function really ran (servers are threaded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


#: How often :func:`sales_report`, :func:`related_products` and :func:`bestsellers` ran.
CALLS: Final = _CallCounter()

_SELLING_POINTS: Final = (
    "Built to last.",
    "Ships flat-packed.",
    "Dishwasher safe.",
    "Two-year warranty.",
    "Made from recycled materials.",
    "Fits most standard sizes.",
    "Tested by our own staff.",
)
_TAGS: Final = ("eco", "bestseller", "new", "gift", "compact", "heavy-duty", "sale", "handmade")


@functools.cache
def products() -> tuple[Product, ...]:
    """Every product, generated once per process from :data:`SEED` (the shop's "database")."""
    rng = random.Random(SEED)
    made = []
    for pk in range(1, PRODUCT_COUNT + 1):
        category = CATEGORIES[pk % len(CATEGORIES)]
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[category])}"
        tags = tuple(sorted(rng.sample(_TAGS, rng.randint(1, 3))))
        description = f"The {name.lower()} is part of our {category} range. " + " ".join(
            rng.sample(_SELLING_POINTS, 3)
        )
        made.append(
            Product(
                pk=pk,
                name=name,
                category=category,
                price_cents=rng.randrange(299, 19_999),
                rating=round(rng.uniform(2.5, 5.0), 1),
                tags=tags,
                description=description,
            )
        )
    return tuple(made)


def get_product(pk: int) -> Product | None:
    """The product with primary key ``pk``, or ``None`` (the apps turn that into a 404)."""
    return products()[pk - 1] if 1 <= pk <= PRODUCT_COUNT else None


def products_in(category: str | None) -> Sequence[Product]:
    """Products of one category (all of them for ``None``), in catalogue order."""
    return [p for p in products() if category is None or p.category == category]


@functools.cache
def _ledger() -> tuple[tuple[int, int], ...]:
    """The sales ledger: ``(product pk, units)`` pairs, Zipf-skewed like real sales."""
    rng = random.Random(SEED + 1)
    weights = [1 / rank for rank in range(1, PRODUCT_COUNT + 1)]
    pks = rng.choices(range(1, PRODUCT_COUNT + 1), weights, k=SALES_COUNT)
    return tuple((pk, rng.randint(1, 4)) for pk in pks)


def sales_report(category: str | None = None) -> list[CategoryReport]:
    """Aggregate the whole ledger per category: the slow page the apps cache whole.

    Scans every sale on every call on purpose (no index, no memo): this is the cost the cache
    saves. ``category`` restricts the report to one category.
    """
    CALLS.add("sales_report")
    orders: collections.Counter[str] = collections.Counter()
    units: collections.Counter[str] = collections.Counter()
    revenue: collections.Counter[str] = collections.Counter()
    per_product: collections.Counter[int] = collections.Counter()
    catalogue = products()
    for pk, count in _ledger():
        product = catalogue[pk - 1]
        if category is not None and product.category != category:
            continue
        orders[product.category] += 1
        units[product.category] += count
        revenue[product.category] += count * product.price_cents
        per_product[pk] += count
    rows = []
    for name in CATEGORIES if category is None else (category,):
        in_category = [pk for pk in per_product if catalogue[pk - 1].category == name]
        if not in_category:
            continue
        top = max(in_category, key=lambda pk: (per_product[pk], -pk))
        rows.append(
            CategoryReport(name, orders[name], units[name], revenue[name], catalogue[top - 1])
        )
    return rows


def related_products(pk: int, limit: int = 4) -> list[Product]:
    """The products most similar to ``pk``: scores the whole catalogue (a few milliseconds).

    The Django site calls this only inside a ``{% cache %}`` fragment, so it runs on fragment
    misses only.
    """
    CALLS.add("related_products")
    target = products()[pk - 1]
    target_tags = set(target.tags)

    def score(other: Product) -> tuple[float, int]:
        shared = len(target_tags.intersection(other.tags))
        same_category = 2.0 if other.category == target.category else 0.0
        closeness = 1.0 / (1.0 + abs(other.price_cents - target.price_cents) / 1000)
        return (-(shared + same_category + closeness + other.rating / 10), other.pk)

    candidates = [p for p in products() if p.pk != pk]
    return sorted(candidates, key=score)[:limit]


def bestsellers(limit: int = 5) -> list[Product]:
    """The products that sold the most units: cached with the low-level ``get_or_set``."""
    CALLS.add("bestsellers")
    sold: collections.Counter[int] = collections.Counter()
    for pk, count in _ledger():
        sold[pk] += count
    return [products()[pk - 1] for pk, _ in sold.most_common(limit)]


class Ratings:
    """Star ratings visitors give products: the one thing in the shop that changes.

    The Flask app keeps one per application and invalidates cached pages when it changes;
    thread-safe because development servers answer requests on several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stars: dict[int, list[int]] = {}

    def add(self, pk: int, stars: int) -> None:
        """Record one rating of 1 to 5 stars for product ``pk``."""
        if not 1 <= stars <= 5:
            raise ValueError(f"A rating is 1 to 5 stars, not {stars}.")
        with self._lock:
            self._stars.setdefault(pk, []).append(stars)

    def summary(self, pk: int) -> tuple[int, float | None]:
        """``(number of ratings, average)`` for ``pk``; the average is ``None`` when unrated."""
        with self._lock:
            stars = list(self._stars.get(pk, ()))
        return len(stars), (round(sum(stars) / len(stars), 2) if stars else None)
