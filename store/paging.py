"""Keyset pagination of the review queue and the researcher list (`--limit`, `--after CURSOR`, the web pages).

A page is read through an index from the cursor on, so its cost depends on the page size, not on how long the
queue is; a cursor is the sort key of the last row shown (opaque to the user: `12` for the id order, `0.85:12` for
confidence, `7:12` for researcher). Rows added or decided between two pages neither repeat nor shift the next
page: it starts strictly after the cursor. Counts are index range counts (`count_proposals`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from enrich.schemas.fields import slot_fields
from enrich.schemas.values import ProposalState

if TYPE_CHECKING:
    from .core import Store

# sort name -> (key expression, SQL direction of the key): every order ends in the id, so keys are unique
SORTS: dict[str, tuple[str, str]] = {
    "id": ("", "ASC"),
    "confidence": ("coalesce(p.confidence, 0)", "DESC"),
    "researcher": ("coalesce(p.researcher_id, 0)", "ASC"),
}
MAX_LIMIT = 1000
STATES: tuple[str, ...] = get_args(ProposalState)


class CursorError(ValueError):
    """A cursor that does not belong to this sort order (one line, for the user)."""


@dataclass
class QueueQuery:
    state: str | None = "pending"
    field: str | None = None
    researcher_id: int | None = None
    job_id: str | None = None
    min_confidence: float | None = None
    kind: str | None = None
    sort: str = "id"


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next: str | None  # cursor of the last row, when more rows follow
    prev: str | None = None  # cursor to pass as `before` for the page before this one, when there is one
    extra: dict[str, Any] = field(default_factory=dict)


def queue_where(q: QueueQuery) -> tuple[list[str], list[str | int | float]]:
    where: list[str] = []
    params: list[str | int | float] = []
    if q.field is not None:  # `affiliation` selects every affiliation slot
        names = slot_fields(q.field)  # a slotted field's name selects all its slots
        where.append(f"p.field IN ({', '.join('?' * len(names))})")
        params.extend(names)
    if q.state is None and q.researcher_id is not None:
        # every state named, so one researcher's rows in all states are a few ranges of the researcher index
        # (no index leads with the researcher: without this the whole queue is scanned)
        where.append(f"p.state IN ({', '.join('?' * len(STATES))})")
        params.extend(STATES)
    for col, val in (
        ("p.state", q.state),
        # the expression the researcher index holds, so a researcher's page is a range of that index
        ("coalesce(p.researcher_id, 0)", q.researcher_id),
        ("p.job_id", q.job_id),
        ("p.kind", q.kind),
    ):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    if q.min_confidence is not None:  # `+` keeps SQLite off the confidence index unless the page is in that order
        where.append(("" if q.sort == "confidence" else "+") + "coalesce(p.confidence, 0) >= ?")
        params.append(q.min_confidence)
    return where, params


def encode_cursor(sort: str, row: dict[str, Any]) -> str:
    if sort == "confidence":
        return f"{float(row['confidence'] or 0)!r}:{row['id']}"
    if sort == "researcher":
        return f"{row['researcher_id'] or 0}:{row['id']}"
    return str(row["id"])


def _decode(sort: str, cursor: str) -> tuple[Any, int]:
    try:
        if sort == "id":
            return None, int(cursor)
        key, sep, pid = cursor.rpartition(":")
        if not sep:
            raise ValueError(cursor)
        return (float(key) if sort == "confidence" else int(key)), int(pid)
    except ValueError:
        raise CursorError(f"cursor {cursor!r} does not belong to the {sort!r} order (start without --after)") from None


def _walk(q: QueueQuery) -> str:
    """The order the rows are walked in: one researcher's rows in researcher order are in id order (the key is
    fixed), which SQLite reads from the researcher index without sorting them."""
    return "id" if q.sort == "researcher" and q.researcher_id is not None else q.sort


def _seek(q: QueueQuery, cursor: str, forward: bool) -> tuple[str, list[Any]]:
    """'Strictly after (or before) the cursor' in the sort order. The key's bound comes first on its own
    (`key >= k AND ...`) so SQLite seeks the sort's index to the cursor instead of scanning up to it."""
    key, pid = _decode(q.sort, cursor)
    expr, direction = SORTS[_walk(q)]
    id_op = ">" if forward else "<"
    if not expr:
        return f"p.id {id_op} ?", [pid]
    grows = (direction == "ASC") == forward  # the key grows in the walking direction
    bound, strict = (">=", ">") if grows else ("<=", "<")
    return f"{expr} {bound} ? AND ({expr} {strict} ? OR p.id {id_op} ?)", [key, key, pid]


def _order(sort: str, forward: bool) -> str:
    expr, direction = SORTS[sort]
    if not expr:
        return "p.id" + ("" if forward else " DESC")
    d = direction if forward else {"ASC": "DESC", "DESC": "ASC"}[direction]
    return f"{expr} {d}, p.id {'ASC' if forward else 'DESC'}"


QUEUE_COLUMNS = (
    "p.id, p.kind, p.researcher_id, r.name AS researcher, p.field, p.summary, p.confidence, fv.origin, p.job_id, "
    "p.state, p.created_at"
)


def proposal_page(
    store: Store, q: QueueQuery, *, limit: int = 50, after: str | None = None, before: str | None = None
) -> Page:
    """One page of the queue in `q.sort` order: rows after the cursor `after` (or the page before `before`), each
    with the researcher's name and the proposed value's origin, and the cursors of the pages either side."""
    if q.sort not in SORTS:
        raise CursorError(f"unknown sort {q.sort!r}; use one of: {', '.join(SORTS)}")
    limit = max(1, min(int(limit), MAX_LIMIT))
    where, params = queue_where(q)
    forward = before is None
    cursor = after if forward else before
    if cursor:
        cond, more = _seek(q, cursor, forward)
        where.append(f"({cond})")
        params += more
    sql = (
        f"SELECT {QUEUE_COLUMNS} FROM proposals p LEFT JOIN researchers r ON r.id = p.researcher_id "
        "LEFT JOIN field_values fv ON fv.id = p.value_id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {_order(_walk(q), forward)} LIMIT ?"
    )
    rows = _rows(store, sql, [*params, limit + 1])
    more_there = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    for r in rows:
        r["cursor"] = encode_cursor(q.sort, r)
    if forward:
        nxt = rows[-1]["cursor"] if rows and more_there else None
        prv = rows[0]["cursor"] if rows and cursor and _exists(store, q, rows[0]["cursor"], forward=False) else None
    else:
        prv = rows[0]["cursor"] if rows and more_there else None
        nxt = rows[-1]["cursor"] if rows and _exists(store, q, rows[-1]["cursor"], forward=True) else None
    return Page(rows, nxt, prv)


def _exists(store: Store, q: QueueQuery, cursor: str, *, forward: bool) -> bool:
    where, params = queue_where(q)
    cond, more = _seek(q, cursor, forward)
    sql = f"SELECT 1 FROM proposals p WHERE {' AND '.join([*where, f'({cond})'])} LIMIT 1"
    return store.db.conn.execute(sql, [*params, *more]).fetchone() is not None


def count_proposals(store: Store, q: QueueQuery) -> int:
    """How many proposals match (an index range count)."""
    where, params = queue_where(q)
    sql = "SELECT count(*) FROM proposals p" + (f" WHERE {' AND '.join(where)}" if where else "")
    return int(store.db.conn.execute(sql, params).fetchone()[0])


def proposal_ids(store: Store, q: QueueQuery, *, batch: int = 500) -> Any:
    """Every matching proposal id in the sort order, read a page at a time (bulk decisions)."""
    after = None
    while True:
        page = proposal_page(store, q, limit=batch, after=after)
        yield from (r["id"] for r in page.rows)
        if page.next is None:
            return
        after = page.next


def neighbours(store: Store, proposal_id: int, state: str = "pending") -> dict[str, int | None]:
    """The previous and next proposal in id order (`state`), this one's position and the total, by index."""
    conn = store.db.conn
    prev = conn.execute(
        "SELECT id FROM proposals WHERE state = ? AND id < ? ORDER BY id DESC LIMIT 1", [state, proposal_id]
    ).fetchone()
    nxt = conn.execute(
        "SELECT id FROM proposals WHERE state = ? AND id > ? ORDER BY id LIMIT 1", [state, proposal_id]
    ).fetchone()
    first = conn.execute("SELECT min(id) FROM proposals WHERE state = ?", [state]).fetchone()
    total = conn.execute("SELECT count(*) FROM proposals WHERE state = ?", [state]).fetchone()[0]
    here = conn.execute("SELECT state FROM proposals WHERE id = ?", [proposal_id]).fetchone()
    position = None
    if here and here[0] == state:
        position = conn.execute(
            "SELECT count(*) FROM proposals WHERE state = ? AND id <= ?", [state, proposal_id]
        ).fetchone()[0]
    return {
        "prev": prev[0] if prev else None,
        "next": nxt[0] if nxt else None,
        "first": first[0] if first else None,
        "position": position,
        "total": total,
    }


def next_pending(store: Store, after_id: int) -> int | None:
    """The pending proposal after `after_id` in id order, else the first pending one (after a decision)."""
    conn = store.db.conn
    row = conn.execute("SELECT id FROM proposals WHERE state = 'pending' AND id > ? ORDER BY id LIMIT 1", [after_id])
    found = row.fetchone() or conn.execute("SELECT min(id) FROM proposals WHERE state = 'pending'").fetchone()
    return found[0] if found else None


def researcher_page(store: Store, *, limit: int = 50, after: str | None = None, before: str | None = None) -> Page:
    """Researchers not merged away, in id order, a page at a time, each with its pending proposal count."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    forward = before is None
    cursor = after if forward else before
    where, params = ["merged_into IS NULL"], []
    if cursor:
        try:
            params.append(int(cursor))
        except ValueError:
            raise CursorError(f"cursor {cursor!r} is not a researcher cursor (start without --after)") from None
        where.append("id > ?" if forward else "id < ?")
    rows = _rows(
        store,
        f"SELECT id, name, created_at FROM researchers WHERE {' AND '.join(where)} "
        f"ORDER BY id {'ASC' if forward else 'DESC'} LIMIT ?",
        [*params, limit + 1],
    )
    more_there = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    counts = pending_counts(store, [r["id"] for r in rows])
    for r in rows:
        r["pending"] = counts.get(r["id"], 0)
        r["cursor"] = str(r["id"])

    def exists(op: str, rid: int) -> bool:
        sql = f"SELECT 1 FROM researchers WHERE merged_into IS NULL AND id {op} ? LIMIT 1"
        return store.db.conn.execute(sql, [rid]).fetchone() is not None

    if forward:
        nxt = rows[-1]["cursor"] if rows and more_there else None
        prv = rows[0]["cursor"] if rows and cursor and exists("<", rows[0]["id"]) else None
    else:
        prv = rows[0]["cursor"] if rows and more_there else None
        nxt = rows[-1]["cursor"] if rows and exists(">", rows[-1]["id"]) else None
    return Page(rows, nxt, prv)


def count_researchers(store: Store) -> int:
    return int(store.db.conn.execute("SELECT count(*) FROM researchers WHERE merged_into IS NULL").fetchone()[0])


def pending_counts(store: Store, researcher_ids: list[int]) -> dict[int, int]:
    if not researcher_ids:
        return {}
    marks = ", ".join("?" * len(researcher_ids))
    sql = (
        f"SELECT researcher_id, count(*) FROM proposals WHERE state = 'pending' AND researcher_id IN ({marks}) "
        "GROUP BY researcher_id"
    )
    return dict(store.db.conn.execute(sql, researcher_ids).fetchall())


def _rows(store: Store, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = store.db.conn.execute(sql, params)
    keys = [d[0] for d in cur.description]
    return [dict(zip(keys, row)) for row in cur]


def decision_candidates(store: Store, q: QueueQuery) -> list[tuple[int, str, str | None]]:
    """(id, kind, status of the field's current value) of every matching proposal in the sort order, in one
    query: what a bulk decision needs to choose, without loading each proposal."""
    if q.sort not in SORTS:
        raise CursorError(f"unknown sort {q.sort!r}; use one of: {', '.join(SORTS)}")
    where, params = queue_where(q)
    sql = (
        "SELECT p.id, p.kind, cfv.status FROM proposals p "
        "LEFT JOIN current_values c ON c.researcher_id = p.researcher_id AND c.field = p.field "
        "LEFT JOIN field_values cfv ON cfv.id = c.value_id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {_order(_walk(q), True)}"
    )
    return [tuple(r) for r in store.db.conn.execute(sql, params)]


def decision_counts(store: Store, q: QueueQuery) -> dict[str, int]:
    """What a bulk decision on these filters would meet (the web page's confirmation): matched, structural (split
    / merge) and protected (the field holds a verified or accepted value). Each is an index count: the matches by
    the queue's indexes, the structural ones through the kind index, the protected ones from the few protected
    values (joining every matching proposal to its field's current value cost the length of the queue)."""
    matched = count_proposals(store, q)
    if q.kind is not None and q.kind != "field":
        structural = matched
    elif q.kind == "field" or q.field is not None:  # split and merge proposals name no field
        structural = 0
    else:
        where, params = queue_where(q)
        where.append("p.kind IN ('split', 'merge')")
        sql = f"SELECT count(*) FROM proposals p WHERE {' AND '.join(where)}"
        structural = int(store.db.conn.execute(sql, params).fetchone()[0])
    where, params = queue_where(q)
    sql = (
        "SELECT count(*) FROM field_values cfv CROSS JOIN current_values c CROSS JOIN proposals p "
        "WHERE cfv.status IN ('verified', 'accepted') AND c.researcher_id = cfv.researcher_id AND c.field = cfv.field "
        "AND c.value_id = cfv.id AND p.researcher_id = cfv.researcher_id AND p.field = cfv.field AND p.kind = 'field'"
        + "".join(f" AND {w}" for w in where)
    )
    protected = int(store.db.conn.execute(sql, params).fetchone()[0])
    return {"matched": matched, "structural": structural, "protected": protected}


def feed_summaries(store: Store) -> list[dict[str, Any]]:
    """Paper feeds (listings with no researcher): id, path, format and number of works, without their text."""
    return _rows(
        store,
        "SELECT l.id, l.path, l.format, (SELECT count(*) FROM works w WHERE w.listing_id = l.id) AS works "
        "FROM listings l WHERE l.kind = 'feed' ORDER BY l.id",
        [],
    )
