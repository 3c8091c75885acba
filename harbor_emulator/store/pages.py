"""The SQL of a newest-first keyset page over events or deliveries.

Every page is an index range read from its keyset down, so page 1,000 costs what page 1
does. The indexes that serve it lead with (workspace_id, livemode) or, for a list across
workspaces, (livemode): each keeps one mode's rows in (created_ms, id) order. A list of
both modes therefore reads one page from each mode's range and keeps the newest `limit`,
rather than scanning and sorting the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

Keyset = tuple[int, str]  # (created_ms, id) of the last row of the previous page

_ORDER = " ORDER BY created_ms DESC, id DESC LIMIT ?"


def newest_first(
    source: str,
    filters: Sequence[tuple[str, object]],
    *,
    livemode: bool | None,
    after: Keyset | None,
    limit: int,
) -> tuple[str, list[object]]:
    """(sql, params) of up to `limit` rows of `source` (a table, optionally with its
    `INDEXED BY`) matching every `filters` condition (SQL with one `?`, and its value),
    newest first, after the keyset `after`; `livemode=None` covers both modes."""
    where = "".join(f" AND {condition}" for condition, _ in filters)
    params: list[object] = [value for _, value in filters]
    if after is not None:
        where += " AND (created_ms, id) < (?, ?)"
        params.extend(after)
    branch = f"SELECT * FROM {source} WHERE livemode = ?{where}{_ORDER}"
    if livemode is not None:
        return branch, [int(livemode), *params, limit]
    sql = f"SELECT * FROM ({branch}) UNION ALL SELECT * FROM ({branch}){_ORDER}"
    return sql, [0, *params, limit, 1, *params, limit, limit]
