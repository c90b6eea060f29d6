"""Deterministic sample rows for every SPFP table, as COPY text-format lines.

Pure Python, no database: :class:`SampleDataset` turns (seed, scale, today) into lines,
and :mod:`spfp_console.sampledata.loader` streams them into PostgreSQL with COPY.

Why it is shaped this way:

* Determinism.  Each table draws from its own ``random.Random(f"{seed}:{table}")``, so
  the same seed, scale and day give byte-identical rows, and an opt-in extra (the
  duplicate categories, the migration's columns) never shifts the rows of another table.
  Timestamps are offsets from midnight UTC of ``today``, never ``now()``.
* Speed.  Scale 10 is about a million rows and must load in well under a minute, so the
  hot loops avoid ``uuid.UUID``, ``datetime`` and ``strftime``: uuids are formatted from
  128 random bits, dates and times come from lookup tables, money is integer cents.
* Realism where the benchmarks look.  Users are skewed (Zipf-like weights, heaviest
  first), so per-user queries are selective but some users are heavy; each user's rows
  are scattered through the table as months of inserts leave them; kanban positions
  count up per (user, status); lead probability follows the stage; tasks have overdue and
  future due dates; automation logs span 180 days, half of them past the 90-day cleanup.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate

from spfp_console.sampledata import vocabulary as V

from spfp_console.sampledata.defaults import DEFAULT_SEED  # noqa: E402
"""The migration's date: the seed used when none is given."""

USERS_PER_SCALE = 50
"""auth.users rows per unit of scale."""

WEIGHTED_ROWS_PER_SCALE: dict[str, int] = {
    "transactions": 40_000,
    "automation_logs": 16_000,
    "operational_tasks": 12_000,
    "sales_leads": 8_000,
    "sent_atas": 6_000,
    "corporate_activities": 6_000,
    "marketing_posts": 5_000,
    "user_files": 3_000,
    "partnership_clients": 2_500,
    "transaction_groups": 300,
}
"""Tables whose rows are shared out by user weight (the rest are a few rows per user)."""

NULL = "\\N"
DAY = 86_400
_DATE_RANGE = 4_000  # days either side of today that date/timestamp lookups cover

_UUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_V4 = (0x4 << 76) | (0x2 << 62)


def uuid4_text(bits: int) -> str:
    """The text form of ``uuid.UUID(int=bits, version=4)``, three times faster."""
    h = "%032x" % ((bits & _UUID_MASK) | _UUID_V4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer shares proportional to ``weights`` (largest remainder)."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    counts = [int(x) for x in raw]
    short = total - sum(counts)
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_remainder[:short]:
        counts[i] += 1
    return counts


def past(t: int) -> int:
    """``t``, or the last second of yesterday if ``t`` is today or later.

    Nothing the generator records as having happened may lie after "now", which for
    determinism is midnight UTC of ``today``.  Monotonic, so ``updated >= created`` holds.
    """
    return t if t < 0 else -1


def cents(value: int) -> str:
    """Integer cents as a numeric literal: 12345 -> '123.45'."""
    return f"{value // 100}.{value % 100:02d}"


class Clock:
    """Dates and timestamps as offsets from midnight UTC of ``today``, formatted by lookup.

    ``t`` arguments are seconds relative to that midnight (negative = the past).
    """

    def __init__(self, today: date) -> None:
        self.today = today
        start = today - timedelta(days=_DATE_RANGE)
        self._dates = [(start + timedelta(days=i)).isoformat() for i in range(2 * _DATE_RANGE + 1)]
        self._times = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]

    def date(self, days: int) -> str:
        return self._dates[days + _DATE_RANGE]

    def ts(self, t: int) -> str:
        """For ``timestamp`` (without time zone) columns: UTC wall-clock time."""
        d, s = divmod(t, DAY)
        return f"{self._dates[d + _DATE_RANGE]} {self._times[s]}"

    def tstz(self, t: int) -> str:
        """For ``timestamptz`` columns: explicit +00, so the session TimeZone is irrelevant."""
        d, s = divmod(t, DAY)
        return f"{self._dates[d + _DATE_RANGE]} {self._times[s]}+00"


def picker(rng: random.Random, items: Sequence[str], weights: Sequence[float]) -> Callable[[], str]:
    """A fast weighted choice: one random() and one bisect per call."""
    cum = list(accumulate(weights))
    total = cum[-1]
    r = rng.random

    def pick() -> str:
        return items[bisect(cum, r() * total)]

    return pick


@dataclass(frozen=True)
class TableSpec:
    """A table the generator fills, in load order."""

    name: str
    """Qualified name, e.g. ``public.transactions``."""
    columns: tuple[str, ...]
    """Columns every schema version has, in row order."""
    optional: tuple[str, ...] = ()
    """Columns the migration adds; written (appended in this order) only when present."""
    needs_migration: bool = False
    """True for tables only the migration creates (skipped when absent)."""

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]


TABLES: tuple[TableSpec, ...] = (
    TableSpec("auth.users", ("id", "email", "created_at")),
    TableSpec("public.accounts", (
        "id", "user_id", "name", "type", "balance", "currency", "color", "icon",
        "created_at", "updated_at", "deleted_at")),
    TableSpec("public.categories", (
        "id", "user_id", "name", "icon", "type", "color", "order_index",
        "created_at", "updated_at", "deleted_at")),
    TableSpec("public.transaction_groups", (
        "id", "user_id", "type", "description", "frequency", "total_installments",
        "created_at", "updated_at")),
    TableSpec("public.transactions", (
        "id", "user_id", "account_id", "category_id", "group_id", "description", "amount",
        "type", "date", "paid", "group_index", "spender", "notes",
        "created_at", "updated_at", "deleted_at")),
    TableSpec("public.goals", (
        "id", "user_id", "name", "description", "target_amount", "current_amount",
        "deadline", "category", "priority", "created_at", "updated_at", "deleted_at")),
    TableSpec("public.partnership_clients", (
        "id", "user_id", "partner_id", "client_name", "contract_value", "commission_rate",
        "total_commission", "my_share", "partner_share", "status", "closed_at", "paid_at",
        "notes", "created_at", "updated_at")),
    TableSpec("public.sent_atas", (
        "id", "user_id", "client_id", "client_name", "type", "channel", "content",
        "recipient", "subject", "sent_at", "created_at"),
        optional=("updated_at", "deleted_at")),
    TableSpec("public.custom_templates", (
        "id", "user_id", "type", "name", "content", "is_default", "created_at",
        "updated_at")),
    TableSpec("public.user_files", (
        "id", "user_id", "name", "category", "storage_path", "size_bytes", "mime_type",
        "is_favorite", "created_at"),
        optional=("deleted_at",)),
    TableSpec("public.operational_tasks", (
        "id", "user_id", "title", "description", "status", "priority", "assignee",
        "due_date", "completed_at", "position", "tags", "created_at", "updated_at"),
        optional=("deleted_at",)),
    TableSpec("public.sales_leads", (
        "id", "user_id", "name", "company", "email", "phone", "stage", "value",
        "probability", "source", "notes", "next_action", "next_action_date", "position",
        "lost_reason", "created_at", "updated_at", "closed_at"),
        optional=("deleted_at",)),
    TableSpec("public.corporate_activities", (
        "id", "user_id", "department", "agent_name", "description", "status",
        "requires_approval", "approved_at", "approved_by", "metadata", "created_at"),
        optional=("deleted_at",)),
    TableSpec("public.marketing_posts", (
        "id", "user_id", "title", "description", "platform", "status", "scheduled_date",
        "posted_date", "image_url", "metrics", "rejection_reason", "created_at",
        "updated_at"),
        optional=("deleted_at",)),
    TableSpec("public.automation_logs", (
        "id", "user_id", "action_type", "target_url", "selector", "value", "status",
        "error_message", "screenshot_path", "duration_ms", "created_at")),
    TableSpec("public.automation_permissions", (
        "id", "user_id", "enabled", "require_confirmation", "allowed_domains",
        "blocked_domains", "max_actions_per_hour", "allow_navigation", "allow_clicks",
        "allow_typing", "created_at", "updated_at")),
    TableSpec("public.automation_permissions_audit", (
        "id", "user_id", "changed_at", "changed_by", "change_type", "previous_value",
        "new_value"), needs_migration=True),
)
"""Every table, parents before children."""

SOFT_DELETED_SHARE = 0.04
"""Share of rows marked deleted_at in the tables whose deleted_at the migration adds."""


@dataclass
class _User:
    id: str
    email: str
    name: str
    created: int
    """Seconds relative to today's midnight (negative)."""


@dataclass
class SampleDataset:
    """The sample rows of one (seed, scale, today), table by table.

    Generate tables in :data:`TABLES` order: children look up the ids their parents
    generated (a user's accounts, categories, clients).
    """

    seed: int = DEFAULT_SEED
    scale: float = 1.0
    today: date | None = None
    """Default: today's date in UTC."""
    with_duplicate_categories: bool = False

    users: list[_User] = field(init=False, repr=False)
    weights: list[float] = field(init=False, repr=False)
    """One weight per user, heaviest first; weighted tables share their rows by it."""
    clock: Clock = field(init=False, repr=False)
    _accounts: list[list[str]] = field(init=False, repr=False)
    _income_categories: list[list[str]] = field(init=False, repr=False)
    _expense_categories: list[list[str]] = field(init=False, repr=False)
    _groups: list[list[tuple[str, int]]] = field(init=False, repr=False)
    _clients: list[list[tuple[str, str, str, str]]] = field(init=False, repr=False)
    _permission_users: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.scale >= 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a finite number >= 0, got {self.scale!r}")
        if self.today is None:
            self.today = datetime.now(timezone.utc).date()
        self.clock = Clock(self.today)
        rng = self._rng("users")
        n_users = max(3, round(USERS_PER_SCALE * self.scale))
        # Zipf-like with some jitter: a few users carry many times the median, yet even the
        # heaviest owns a small share once there are dozens of users (about 1/8 of each
        # weighted table at 50 users, 1/20 at 500), so per-user queries stay selective.
        self.weights = sorted(
            ((i + 1) ** -0.7 * rng.lognormvariate(0.0, 0.2) for i in range(n_users)),
            reverse=True,
        )
        self.users = []
        for i in range(n_users):
            first = rng.choice(V.FIRST_NAMES)
            last = rng.choice(V.LAST_NAMES)
            uid = uuid4_text(rng.getrandbits(128))
            slug = f"{_ascii(first)}.{_ascii(last)}".lower()
            created = -DAY * (60 + int(rng.random() * 1000)) + int(rng.random() * DAY)
            self.users.append(
                _User(uid, f"{slug}.{i + 1:04d}@spfp.example", f"{first} {last}", created)
            )

    # ------------------------------------------------------------------ plumbing

    def _rng(self, table: str) -> random.Random:
        return random.Random(f"{self.seed}:{table}")

    def row_count_target(self, table: str) -> int:
        """How many rows a weighted table gets in total at this scale."""
        return max(len(self.users), round(WEIGHTED_ROWS_PER_SCALE[table] * self.scale))

    def _per_user(self, table: str) -> list[int]:
        return allocate(self.row_count_target(table), self.weights)

    @property
    def heaviest_user_id(self) -> str:
        return self.users[0].id

    @property
    def median_user_id(self) -> str:
        return self.users[len(self.users) // 2].id

    def _interleave(
        self, table: str, user_rows: Callable[[int, _User, int], Iterator[str]]
    ) -> Iterator[str]:
        """Each user's rows, dealt out in a shuffled order across the whole table.

        A production table holds a user's rows scattered among everyone else's (they were
        inserted over months); loaded user by user they would sit on a few adjacent pages
        and make every per-user index scan look cheaper than it is in production.
        """
        counts = self._per_user(table)
        order = [ui for ui, n in enumerate(counts) for _ in range(n)]
        self._rng(f"{table}:order").shuffle(order)
        nexts = [user_rows(ui, u, n).__next__ for ui, (u, n) in enumerate(zip(self.users, counts))]
        for ui in order:
            yield nexts[ui]()

    def rows(self, spec: TableSpec, present_optional: Sequence[str] = ()) -> Iterator[str]:
        """COPY text lines for ``spec``: its base columns, then ``present_optional``.

        ``present_optional`` must be a subsequence of ``spec.optional``.
        """
        method = getattr(self, "_gen_" + spec.short)
        return method(frozenset(present_optional))

    # ------------------------------------------------------------------ tables

    def _gen_users(self, _: frozenset[str]) -> Iterator[str]:
        ts = self.clock.tstz
        for u in self.users:
            yield f"{u.id}\t{u.email}\t{ts(u.created)}\n"

    def _gen_accounts(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("accounts")
        r, bits, ts = rng.random, rng.getrandbits, self.clock.ts
        self._accounts = []
        for u in self.users:
            mine: list[str] = []
            for name, typ, ceiling, color, icon in rng.sample(V.ACCOUNTS, 2 + int(r() * 5)):
                aid = uuid4_text(bits(128))
                balance = int(r() ** 2 * ceiling * 100)
                currency = "USD" if typ == "investment" and r() < 0.05 else "BRL"
                created = u.created + int(r() * 30 * DAY)
                updated = created + int(r() * (-created))
                deleted = r() < 0.03
                if not deleted:
                    mine.append(aid)
                yield (f"{aid}\t{u.id}\t{name}\t{typ}\t{cents(balance)}\t{currency}\t{color}\t"
                       f"{icon}\t{ts(created)}\t{ts(updated)}\t"
                       f"{ts(updated) if deleted else NULL}\n")
            self._accounts.append(mine)

    def _gen_categories(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("categories")
        r, bits, ts = rng.random, rng.getrandbits, self.clock.ts
        income = [c for c in V.CATEGORIES if c[1] == "income"]
        expense = [c for c in V.CATEGORIES if c[1] == "expense"]
        mixed = [c for c in V.CATEGORIES if c[1] == "mixed"]
        self._income_categories, self._expense_categories = [], []
        dup_rng = self._rng("categories:duplicates")
        for ui, u in enumerate(self.users):
            chosen = (rng.sample(expense, 6 + int(r() * (len(expense) - 5)))
                      + rng.sample(income, 2 + int(r() * (len(income) - 1)))
                      + rng.sample(mixed, 1 + int(r() * len(mixed))))
            inc: list[str] = []
            exp: list[str] = []
            for order, (name, typ, icon, color) in enumerate(chosen):
                cid = uuid4_text(bits(128))
                created = u.created + int(r() * 7 * DAY)
                deleted = r() < 0.02
                if not deleted:
                    if typ != "expense":
                        inc.append(cid)
                    if typ != "income":
                        exp.append(cid)
                yield (f"{cid}\t{u.id}\t{name}\t{icon}\t{typ}\t{color}\t{order}\t"
                       f"{ts(created)}\t{ts(created)}\t{ts(created + DAY) if deleted else NULL}\n")
            self._income_categories.append(inc)
            self._expense_categories.append(exp)
            if self.with_duplicate_categories and ui % 3 == 0:
                # The opt-in trap: a name differing only by case from one the user has,
                # which unique_user_category_name rejects.  Own rng, so nothing else moves.
                names = {c[0] for c in chosen}
                prone = [n for n in V.DUPLICATE_PRONE_CATEGORIES if n in names]
                extra = []
                if not prone:
                    extra.append(V.DUPLICATE_PRONE_CATEGORIES[0])
                    prone = extra[:]
                dup = dup_rng.choice(prone)
                extra.append(dup.lower())
                for k, name in enumerate(extra):
                    cid = uuid4_text(dup_rng.getrandbits(128))
                    created = u.created + DAY * (10 + k)
                    yield (f"{cid}\t{u.id}\t{name}\tshopping-bag\texpense\t#cccccc\t"
                           f"{len(chosen) + k}\t{ts(created)}\t{ts(created)}\t{NULL}\n")

    def _gen_transaction_groups(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("transaction_groups")
        r, bits, ts = rng.random, rng.getrandbits, self.clock.ts
        self._groups = []
        for u, n in zip(self.users, self._per_user("transaction_groups")):
            mine: list[tuple[str, int]] = []
            for _group in range(n):
                gid = uuid4_text(bits(128))
                x = r()
                if x < 0.55:
                    typ, desc = "recurring", rng.choice(V.RECURRING_GROUPS)
                    freq = "monthly" if r() < 0.85 else ("yearly" if r() < 0.5 else "weekly")
                    total, total_text = 12, NULL
                elif x < 0.9:
                    typ, desc, freq = "installment", rng.choice(V.INSTALLMENT_GROUPS), "monthly"
                    total = 2 + int(r() * 23)
                    total_text = str(total)
                    desc = f"{desc} {total}x"
                else:
                    typ, desc, freq = "other", rng.choice(V.OTHER_GROUPS), NULL
                    total, total_text = 6, NULL
                created = u.created + int(r() * (-u.created))
                mine.append((gid, total))
                yield (f"{gid}\t{u.id}\t{typ}\t{desc}\t{freq}\t{total_text}\t"
                       f"{ts(created)}\t{ts(created)}\n")
            self._groups.append(mine)

    def _gen_transactions(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("transactions")
        r, bits, lognorm = rng.random, rng.getrandbits, rng.lognormvariate
        ts, dt = self.clock.ts, self.clock.date
        exp_desc, inc_desc = V.EXPENSE_DESCRIPTIONS, V.INCOME_DESCRIPTIONS
        n_exp, n_inc = len(exp_desc), len(inc_desc)
        spender = picker(rng, (NULL,) + V.SPENDERS, (50, 20, 12, 6, 8, 4))
        notes = V.NOTES

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            accounts = self._accounts[ui] or [NULL]
            inc_cats = self._income_categories[ui] or [NULL]
            exp_cats = self._expense_categories[ui] or [NULL]
            groups = self._groups[ui]
            n_acc, n_grp = len(accounts), len(groups)
            n_inc_c, n_exp_c = len(inc_cats), len(exp_cats)
            # History since the user joined (at most two years), plus a little future.
            history = min(730, -u.created // DAY - 6)
            uid = u.id
            for _ in range(n):
                tid = uuid4_text(bits(128))
                if r() < 0.22:
                    typ = "INCOME"
                    amount = 5000 + int(lognorm(12.3, 0.8))
                    desc = inc_desc[int(r() * n_inc)]
                    cat = inc_cats[int(r() * n_inc_c)]
                else:
                    typ = "EXPENSE"
                    amount = 100 + int(lognorm(9.2, 1.1))
                    desc = exp_desc[int(r() * n_exp)]
                    cat = exp_cats[int(r() * n_exp_c)]
                if r() < 0.08:
                    cat = NULL
                if r() < 0.93:
                    day = -int(r() ** 1.4 * history)
                    paid = "t" if r() < 0.93 else "f"
                else:
                    day = 1 + int(r() * 60)
                    paid = "f"
                if n_grp and r() < 0.15:
                    gid, total = groups[int(r() * n_grp)]
                    group, index = gid, str(1 + int(r() * total))
                else:
                    group, index = NULL, NULL
                created = past(min(day, 0) * DAY - int(r() * 5 * DAY) + int(r() * DAY))
                updated = created if r() < 0.8 else past(created + int(r() * 3 * DAY))
                deleted = ts(past(updated + DAY)) if r() < 0.02 else NULL
                note = notes[int(r() * len(notes))] if r() < 0.05 else NULL
                yield (f"{tid}\t{uid}\t{accounts[int(r() * n_acc)]}\t{cat}\t{group}\t{desc}\t"
                       f"{cents(amount)}\t{typ}\t{dt(day)}\t{paid}\t{index}\t{spender()}\t"
                       f"{note}\t{ts(created)}\t{ts(updated)}\t{deleted}\n")

        return self._interleave("transactions", user_rows)

    def _gen_goals(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("goals")
        r, bits, ts, dt = rng.random, rng.getrandbits, self.clock.ts, self.clock.date
        priority = picker(rng, ("low", "medium", "high", NULL), (3, 5, 3, 1))
        for u in self.users:
            for name, category in rng.sample(V.GOALS, 1 + int(r() * 6)):
                gid = uuid4_text(bits(128))
                target = 500_000 + int(r() ** 2 * 50_000_000)
                current = int(target * r() * 1.1)
                deadline = dt(30 + int(r() * 1800)) if r() < 0.85 else NULL
                created = u.created + int(r() * (-u.created))
                deleted = ts(created + 90 * DAY) if r() < 0.04 and created < -90 * DAY else NULL
                yield (f"{gid}\t{u.id}\t{name}\tMeta de {name.lower()}\t{cents(target)}\t"
                       f"{cents(current)}\t{deadline}\t{category}\t{priority()}\t"
                       f"{ts(created)}\t{ts(created)}\t{deleted}\n")

    def _make_clients(self) -> None:
        """Each user's clients (id, name, e-mail, phone), shared by atas and partnerships."""
        rng = self._rng("clients")
        r, bits = rng.random, rng.getrandbits
        self._clients = []
        for n in self._per_user("sent_atas"):
            mine = []
            for _ in range(max(3, n // 8)):
                first, last = rng.choice(V.FIRST_NAMES), rng.choice(V.LAST_NAMES)
                mail = f"{_ascii(first)}.{_ascii(last)}{int(r() * 1000)}@example.com.br".lower()
                phone = f"+55119{int(r() * 1e8):08d}"
                mine.append((uuid4_text(bits(128)), f"{first} {last}", mail, phone))
            self._clients.append(mine)

    def _gen_partnership_clients(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("partnership_clients")
        r, bits, tstz, dt = rng.random, rng.getrandbits, self.clock.tstz, self.clock.date
        self._make_clients()
        status = picker(rng, ("pending", "paid", "cancelled"), (35, 55, 10))
        n_users = len(self.users)

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            clients = self._clients[ui]
            for _ in range(n):
                pid = uuid4_text(bits(128))
                # Partners are other consultants of the practice.
                partner = self.users[(ui + 1 + int(r() * (n_users - 1))) % n_users].id
                name = clients[int(r() * len(clients))][1]
                contract = 100_000 + int(r() ** 2 * 50_000_000)
                rate_bp = 100 + int(r() * 2900)  # 1.00 % to 30.00 %
                commission = contract * rate_bp // 10_000
                mine = commission * (40 + int(r() * 31)) // 100
                st = status()
                created = -int(r() * min(540 * DAY, -u.created - DAY))
                closed_day = min(created // DAY + 5 + int(r() * 60), -1)
                closed = dt(closed_day) if st == "paid" or (st == "pending" and r() < 0.3) else NULL
                paid_at = tstz(closed_day * DAY + int(r() * DAY)) if st == "paid" else NULL
                note = V.NOTES[int(r() * len(V.NOTES))] if r() < 0.3 else NULL
                yield (f"{pid}\t{u.id}\t{partner}\t{name}\t{cents(contract)}\t"
                       f"{cents(rate_bp)}\t{cents(commission)}\t{cents(mine)}\t"
                       f"{cents(commission - mine)}\t{st}\t{closed}\t{paid_at}\t{note}\t"
                       f"{tstz(created)}\t{tstz(past(created + int(r() * 10 * DAY)))}\n")

        return self._interleave("partnership_clients", user_rows)

    def _gen_sent_atas(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("sent_atas")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        with_updated = "updated_at" in present
        with_deleted = "deleted_at" in present
        topics = V.ATA_TOPICS

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            clients = self._clients[ui]
            first_name = u.name.split()[0]
            for _ in range(n):
                aid = uuid4_text(bits(128))
                cid, cname, mail, phone = clients[int(r() * len(clients))]
                typ = "reuniao" if r() < 0.6 else "investimentos"
                email = r() < 0.55
                topic = topics[int(r() * len(topics))]
                subjects = V.ATA_SUBJECTS[typ]
                subject = subjects[int(r() * len(subjects))] if email else NULL
                content = (f"Olá {cname.split()[0]},\\n\\nSegue o resumo sobre {topic}.\\n"
                           f"Qualquer dúvida, estou à disposição.\\n\\n{first_name}")
                sent = -int(r() ** 1.3 * min(365 * DAY, -u.created - DAY)) - 1
                line = (f"{aid}\t{u.id}\t{cid if r() < 0.9 else NULL}\t{cname}\t{typ}\t"
                        f"{'email' if email else 'whatsapp'}\t{content}\t"
                        f"{mail if email else phone}\t{subject}\t{tstz(sent)}\t{tstz(sent)}")
                edited = past(sent + int(r() * 2 * DAY)) if r() < 0.1 else sent
                deleted = r() < SOFT_DELETED_SHARE
                if with_updated:
                    line += f"\t{tstz(edited)}"
                if with_deleted:
                    line += f"\t{tstz(past(edited + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("sent_atas", user_rows)

    def _gen_custom_templates(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("custom_templates")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        for u in self.users:
            for typ in rng.sample(V.TEMPLATE_TYPES, 1 + int(r() * len(V.TEMPLATE_TYPES))):
                # At most one default per (user, type): unique_default_template holds.
                has_default = r() < 0.8
                for k, name in enumerate(rng.sample(V.TEMPLATE_NAMES, 1 + int(r() * 3))):
                    tid = uuid4_text(bits(128))
                    created = u.created + int(r() * (-u.created))
                    content = (f"Olá {{{{cliente}}}},\\n\\nModelo {name.lower()} de {typ}."
                               f"\\n\\n{{{{assinatura}}}}")
                    default = "t" if has_default and k == 0 else "f"
                    yield (f"{tid}\t{u.id}\t{typ}\t{name}\t{content}\t{default}\t"
                           f"{tstz(created)}\t{tstz(past(created + int(r() * 30 * DAY)))}\n")

    def _gen_user_files(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("user_files")
        r, bits, lognorm, tstz = rng.random, rng.getrandbits, rng.lognormvariate, self.clock.tstz
        with_deleted = "deleted_at" in present
        kinds = V.FILE_KINDS

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            for _ in range(n):
                fid = uuid4_text(bits(128))
                category, stem, ext, mime = kinds[int(r() * len(kinds))]
                created = -int(r() * min(400 * DAY, -u.created - DAY)) - 1
                size = min(10_485_760, max(1, int(lognorm(12.0, 1.5))))
                name = f"{stem}_{self.clock.date(created // DAY)}.{ext}"
                line = (f"{fid}\t{u.id}\t{name}\t{category}\t{u.id}/{category}/{fid}.{ext}\t"
                        f"{size}\t{mime}\t{'t' if r() < 0.1 else 'f'}\t{tstz(created)}")
                deleted = r() < SOFT_DELETED_SHARE
                if with_deleted:
                    line += f"\t{tstz(past(created + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("user_files", user_rows)

    def _gen_operational_tasks(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("operational_tasks")
        r, bits, tstz, dt = rng.random, rng.getrandbits, self.clock.tstz, self.clock.date
        with_deleted = "deleted_at" in present
        status = picker(rng, ("todo", "in_progress", "done"), (35, 20, 45))
        priority = picker(rng, ("low", "medium", "high"), (30, 50, 20))
        titles, tags = V.TASK_TITLES, V.TASK_TAGS

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            assignees = (u.name, NULL, "Assistente", "Estagiário")
            position = {"todo": 0, "in_progress": 0, "done": 0}
            for _ in range(n):
                tid = uuid4_text(bits(128))
                st = status()
                position[st] += 1
                created = -int(r() ** 1.5 * min(300 * DAY, -u.created - DAY)) - 1
                created_day = created // DAY
                if st == "done":
                    done_at = created + int(r() * (-created))
                    due = dt(done_at // DAY + int(r() * 10) - 3) if r() < 0.8 else NULL
                    completed, updated = tstz(done_at), done_at
                else:
                    # Open tasks: some overdue, most due in the coming weeks.
                    due = dt(max(created_day, -45) + int(r() * 90)) if r() < 0.85 else NULL
                    completed, updated = NULL, created + int(r() * (-created))
                x = r()
                tag = NULL if x < 0.3 else ("{}" if x < 0.4 else "{" + ",".join(
                    rng.sample(tags, 1 + int(r() * 3))) + "}")
                line = (f"{tid}\t{u.id}\t{titles[int(r() * len(titles))]}\t"
                        f"{'Detalhes da tarefa' if r() < 0.6 else NULL}\t{st}\t{priority()}\t"
                        f"{assignees[int(r() * 4)]}\t{due}\t{completed}\t{position[st]}\t{tag}\t"
                        f"{tstz(created)}\t{tstz(updated)}")
                deleted = r() < SOFT_DELETED_SHARE
                if with_deleted:
                    line += f"\t{tstz(past(updated + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("operational_tasks", user_rows)

    _STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won",
               "closed_lost")
    _STAGE_PROBABILITY = {  # (floor, span) of the probability a stage carries
        "prospecting": (5, 16), "qualification": (15, 26), "proposal": (30, 31),
        "negotiation": (50, 41), "closed_won": (100, 1), "closed_lost": (0, 1),
    }

    def _gen_sales_leads(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("sales_leads")
        r, bits, tstz, dt = rng.random, rng.getrandbits, self.clock.tstz, self.clock.date
        with_deleted = "deleted_at" in present
        stage = picker(rng, self._STAGES, (25, 18, 14, 10, 18, 15))
        source = picker(rng, V.LEAD_SOURCES, (30, 20, 15, 12, 8, 10, 5))
        probability = self._STAGE_PROBABILITY
        first, last, companies = V.FIRST_NAMES, V.LAST_NAMES, V.COMPANIES

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            for i in range(n):
                lid = uuid4_text(bits(128))
                fn, ln = first[int(r() * len(first))], last[int(r() * len(last))]
                st = stage()
                floor, span = probability[st]
                value = int(r() ** 2 * 20_000_000)
                created = -int(r() * min(400 * DAY, -u.created - DAY)) - 1
                updated = created + int(r() * (-created))
                closed = st.startswith("closed")
                action = NULL if closed else V.LEAD_NEXT_ACTIONS[
                    int(r() * len(V.LEAD_NEXT_ACTIONS))]
                action_date = NULL if closed else dt(-10 + int(r() * 40))
                line = (f"{lid}\t{u.id}\t{fn} {ln}\t"
                        f"{companies[int(r() * len(companies))] if r() < 0.7 else NULL}\t"
                        f"{_ascii(fn).lower()}.{_ascii(ln).lower()}{i}@example.com.br\t"
                        f"+55219{int(r() * 1e8):08d}\t{st}\t{cents(value)}\t"
                        f"{floor + int(r() * span)}\t{source()}\t"
                        f"{V.NOTES[int(r() * len(V.NOTES))] if r() < 0.4 else NULL}\t"
                        f"{action}\t{action_date}\t{i}\t"
                        f"{V.LEAD_LOST_REASONS[int(r() * 5)] if st == 'closed_lost' else NULL}\t"
                        f"{tstz(created)}\t{tstz(updated)}\t{tstz(updated) if closed else NULL}")
                deleted = r() < SOFT_DELETED_SHARE
                if with_deleted:
                    line += f"\t{tstz(past(updated + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("sales_leads", user_rows)

    def _gen_corporate_activities(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("corporate_activities")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        with_deleted = "deleted_at" in present
        status = picker(rng, ("running", "idle", "waiting", "completed", "error"),
                        (8, 12, 10, 62, 8))
        departments = V.DEPARTMENTS
        n_users = len(self.users)

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            for k in range(n):
                aid = uuid4_text(bits(128))
                dep = departments[int(r() * 4)]
                agents, descs = V.AGENTS[dep], V.ACTIVITY_DESCRIPTIONS[dep]
                st = status()
                created = -int(r() ** 2 * min(180 * DAY, -u.created - DAY)) - 1
                needs = r() < 0.2
                approved = needs and (st == "completed" or r() < 0.3)
                approver = (u.id if r() < 0.8 else self.users[int(r() * n_users)].id)
                line = (f"{aid}\t{u.id}\t{dep}\t{agents[int(r() * 3)]}\t"
                        f"{descs[int(r() * 3)]}\t{st}\t{'t' if needs else 'f'}\t"
                        f"{tstz(past(created + int(r() * DAY))) if approved else NULL}\t"
                        f"{approver if approved else NULL}\t"
                        f'{{"run": {k}, "source": "{"cron" if r() < 0.7 else "manual"}", '
                        f'"tokens": {int(r() * 4000)}}}\t{tstz(created)}')
                deleted = r() < SOFT_DELETED_SHARE
                if with_deleted:
                    line += f"\t{tstz(past(created + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("corporate_activities", user_rows)

    def _gen_marketing_posts(self, present: frozenset[str]) -> Iterator[str]:
        rng = self._rng("marketing_posts")
        r, bits, tstz, dt = rng.random, rng.getrandbits, self.clock.tstz, self.clock.date
        with_deleted = "deleted_at" in present
        platform = picker(rng, V.PLATFORMS, (35, 30, 10, 8, 5, 10, 2))
        titles = V.POST_TITLES

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            back = min(180, -u.created // DAY - 40)
            for _ in range(n):
                pid = uuid4_text(bits(128))
                day = -back + int(r() * (back + 60))  # from months ago to two months ahead
                if day > 0:
                    st = "draft" if r() < 0.4 else ("pending" if r() < 0.5 else "approved")
                else:
                    x = r()
                    st = ("posted" if x < 0.7 else "rejected" if x < 0.82
                          else "draft" if x < 0.92 else "approved")
                created = (min(day, 0) - 3 - int(r() * 30)) * DAY + int(r() * DAY)
                posted = st == "posted"
                metrics = (f'{{"likes": {int(r() * 2000)}, "comments": {int(r() * 150)}, '
                           f'"shares": {int(r() * 300)}, "reach": {int(r() * 50000)}}}'
                           if posted else NULL)
                updated = past(day * DAY + int(r() * DAY) if posted else created + int(r() * DAY))
                line = (f"{pid}\t{u.id}\t{titles[int(r() * len(titles))]}\t"
                        f"{'Post educativo sobre finanças pessoais' if r() < 0.7 else NULL}\t"
                        f"{platform()}\t{st}\t{dt(day) if r() < 0.95 else NULL}\t"
                        f"{tstz(updated) if posted else NULL}\t"
                        f"{'https://cdn.spfp.example/posts/' + pid + '.png' if r() < 0.8 else NULL}"
                        f"\t{metrics}\t"
                        f"{V.REJECTION_REASONS[int(r() * 4)] if st == 'rejected' else NULL}\t"
                        f"{tstz(created)}\t{tstz(updated)}")
                deleted = r() < SOFT_DELETED_SHARE
                if with_deleted:
                    line += f"\t{tstz(past(updated + DAY)) if deleted else NULL}"
                yield line + "\n"

        return self._interleave("marketing_posts", user_rows)

    def _gen_automation_logs(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("automation_logs")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        action = picker(rng, ("screenshot", "navigate", "click", "fill", "select", "scroll"),
                        (15, 25, 30, 15, 5, 10))
        urls, selectors, errors = V.AUTOMATION_URLS, V.AUTOMATION_SELECTORS, V.AUTOMATION_ERRORS

        def user_rows(ui: int, u: _User, n: int) -> Iterator[str]:
            for _ in range(n):
                lid = uuid4_text(bits(128))
                act = action()
                # Uniform over 180 days: about half is older than the 90-day retention.
                created = -int(r() * min(180 * DAY, -u.created - DAY)) - 1
                x = r()
                if created > -DAY and x < 0.1:
                    st = "running" if x < 0.05 else "pending"
                else:
                    st = "error" if x > 0.92 else "success"
                value = (f"valor-{int(r() * 100)}" if act in ("fill", "select") else NULL)
                shot = (f"screenshots/{u.id}/{lid}.png" if act == "screenshot" else NULL)
                yield (f"{lid}\t{u.id}\t{act}\t{urls[int(r() * len(urls))]}\t"
                       f"{selectors[int(r() * len(selectors))] if act != 'navigate' else NULL}\t"
                       f"{value}\t{st}\t{errors[int(r() * 4)] if st == 'error' else NULL}\t"
                       f"{shot}\t{50 + int(r() ** 2 * 8000)}\t{tstz(created)}\n")

        return self._interleave("automation_logs", user_rows)

    def _gen_automation_permissions(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("automation_permissions")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        self._permission_users = []
        for ui, u in enumerate(self.users):
            if ui and r() < 0.1:
                continue  # never opened the automation settings
            self._permission_users.append(ui)
            allowed = "{" + ",".join(rng.sample(V.ALLOWED_DOMAINS, int(r() * 4))) + "}"
            blocked = "{" + ",".join(rng.sample(V.BLOCKED_DOMAINS, int(r() * 3))) + "}"
            created = u.created + int(r() * 30 * DAY)
            b = ["t" if r() < p else "f" for p in (0.6, 0.8, 0.9, 0.5, 0.3)]
            yield (f"{uuid4_text(bits(128))}\t{u.id}\t{b[0]}\t{b[1]}\t{allowed}\t{blocked}\t"
                   f"{(50, 100, 100, 200, 500)[int(r() * 5)]}\t{b[2]}\t{b[3]}\t{b[4]}\t"
                   f"{tstz(created)}\t{tstz(created + int(r() * (-created)))}\n")

    def _gen_automation_permissions_audit(self, _: frozenset[str]) -> Iterator[str]:
        rng = self._rng("automation_permissions_audit")
        r, bits, tstz = rng.random, rng.getrandbits, self.clock.tstz
        kinds = ("enabled", "disabled", "whitelist_added", "whitelist_removed",
                 "blacklist_added", "blacklist_removed")
        for ui in self._permission_users:
            u = self.users[ui]
            for _change in range(1 + int(r() * 10)):
                kind = kinds[int(r() * 6)]
                if kind in ("enabled", "disabled"):
                    prev, new = ("false", "true") if kind == "enabled" else ("true", "false")
                else:
                    pool = V.ALLOWED_DOMAINS if kind.startswith("white") else V.BLOCKED_DOMAINS
                    domain = pool[int(r() * len(pool))]
                    prev, new = (NULL, domain) if kind.endswith("added") else (domain, NULL)
                who = u.email if r() < 0.85 else "system"
                # After the permissions row existed (created within 30 days of the user).
                changed = -int(r() * min(120 * DAY, -u.created - 31 * DAY)) - 1
                yield (f"{uuid4_text(bits(128))}\t{u.id}\t{tstz(changed)}\t"
                       f"{who}\t{kind}\t{prev}\t{new}\n")


_ASCII = str.maketrans("áàâãéêíóôõúüçÁÀÂÃÉÊÍÓÔÕÚÜÇ", "aaaaeeiooouucAAAAEEIOOOUUC")


def _ascii(text: str) -> str:
    return text.translate(_ASCII)
