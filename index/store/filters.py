"""The search filters as SQL, for both backends: one place decides that ``as_of`` keeps undated
articles while an explicit ``until`` (or ``since``) leaves them out."""

from __future__ import annotations


def filter_sql(
    source: str | None,
    since: str | None,
    until: str | None,
    as_of: str | None = None,
    *,
    mark: str = "?",
    source_equals: str = "a.source = {} COLLATE NOCASE",
) -> tuple[str, list]:
    """`` AND …`` clauses over articles ``a`` and their parameters; ``mark`` is the backend's
    placeholder, ``source_equals`` its case-blind comparison."""
    clauses, params = "", []
    if source:
        clauses += " AND " + source_equals.format(mark)
        params.append(source)
    if since:
        clauses += f" AND a.published_at >= {mark}"
        params.append(since)
    if until:
        clauses += f" AND a.published_at <= {mark}"
        params.append(until)
    if as_of:
        clauses += f" AND (a.published_at IS NULL OR a.published_at <= {mark})"
        params.append(as_of)
    return clauses, params
