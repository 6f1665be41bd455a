"""Choosing seats on a showing's seat map: plain rules, unit-tested, no Kivy.

A seat is named by ``(row, seat)`` as the central names it.  "Adjacent" means the same grid row
(``y``) and consecutive grid columns (``x``): an aisle (a gap in ``x``) splits a row.  Best
available keeps a party together in one block when any row has room, in the middle of the hall
and a little towards the back; accessible seats are left for those who need them unless nothing
else fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from backend_client.wire import SeatMap, SeatState, SeatView

SeatKey = tuple[str, str]  # (row, seat)

# Where people like to sit: 60 % of the way back from the screen, in the middle.
_IDEAL_DEPTH = 0.6
_ACCESSIBLE_PENALTY = 1000.0  # only when no other block fits
_LONE_SEAT_PENALTY = 0.5  # a block that leaves one free seat stranded beside it


def key_of(seat: SeatView) -> SeatKey:
    return (seat.row, seat.seat)


def free_seats(seat_map: SeatMap) -> dict[SeatKey, SeatView]:
    return {key_of(s): s for s in seat_map.seats if s.state is SeatState.FREE}


def _runs(seats: Iterable[SeatView]) -> list[list[SeatView]]:
    """Free seats cut into blocks of adjacent seats (same grid row, consecutive columns)."""
    by_row: dict[int, list[SeatView]] = {}
    for seat in seats:
        by_row.setdefault(seat.y, []).append(seat)
    runs: list[list[SeatView]] = []
    for row in by_row.values():
        row.sort(key=lambda s: s.x)
        current: list[SeatView] = []
        for seat in row:
            if current and seat.x != current[-1].x + 1:
                runs.append(current)
                current = []
            current.append(seat)
        if current:
            runs.append(current)
    return runs


def _score(block: Sequence[SeatView], run: Sequence[SeatView], seat_map: SeatMap) -> float:
    rows = max(seat_map.rows - 1, 1)
    columns = max(seat_map.columns - 1, 1)
    ideal_y = _IDEAL_DEPTH * rows
    centre_x = (block[0].x + block[-1].x) / 2
    score = abs(block[0].y - ideal_y) / rows + abs(centre_x - columns / 2) / columns
    score += _ACCESSIBLE_PENALTY * sum(1 for s in block if s.accessible)
    start = run.index(block[0])
    end = start + len(block)
    if start == 1 or len(run) - end == 1:
        score += _LONE_SEAT_PENALTY
    return score


def best_available(seat_map: SeatMap, count: int) -> tuple[SeatKey, ...]:
    """The best ``count`` free seats, together where possible; () when fewer are free."""
    free = [s for s in seat_map.seats if s.state is SeatState.FREE]
    if count < 1 or len(free) < count:
        return ()
    runs = _runs(free)
    best: tuple[float, tuple[SeatView, ...]] | None = None
    for run in runs:
        for start in range(len(run) - count + 1):
            block = tuple(run[start:start + count])
            score = _score(block, run, seat_map)
            if best is None or score < best[0]:
                best = (score, block)
    if best is not None:
        return tuple(key_of(s) for s in best[1])
    # No block is long enough: as few pieces as possible, the biggest blocks first, best placed first.
    chosen: list[SeatView] = []
    for run in sorted(runs, key=lambda r: (-len(r), _score(r, r, seat_map))):
        need = count - len(chosen)
        if need <= 0:
            break
        if len(run) <= need:
            chosen.extend(run)
        else:
            options = [run[i:i + need] for i in range(len(run) - need + 1)]
            chosen.extend(min(options, key=lambda b, r=run: _score(b, r, seat_map)))  # type: ignore[misc]
    return tuple(key_of(s) for s in chosen)


def toggle(seat_map: SeatMap, selected: Sequence[SeatKey], key: SeatKey, limit: int) -> tuple[SeatKey, ...] | None:
    """The selection after a tap on ``key``; None when the tap changes nothing (taken, or the party is full).

    With a party of one, a tap on another free seat moves the choice there.
    """
    if key in selected:
        return tuple(k for k in selected if k != key)
    if key not in free_seats(seat_map):
        return None
    if len(selected) < limit:
        return (*selected, key)
    if limit == 1:
        return (key,)
    return None


def together(seat_map: SeatMap, selected: Sequence[SeatKey]) -> bool:
    """True when the chosen seats form one block of adjacent seats (or none or one is chosen)."""
    if len(selected) < 2:
        return True
    views = {key_of(s): s for s in seat_map.seats}
    chosen = [views[k] for k in selected if k in views]
    if len(chosen) != len(selected) or len({s.y for s in chosen}) != 1:
        return False
    xs = sorted(s.x for s in chosen)
    return xs == list(range(xs[0], xs[0] + len(xs)))


def still_free(seat_map: SeatMap, selected: Sequence[SeatKey]) -> tuple[SeatKey, ...]:
    """The chosen seats that are still free on a fresh map (another person may have taken some)."""
    free = free_seats(seat_map)
    return tuple(k for k in selected if k in free)
