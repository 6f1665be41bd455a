"""Seat choosing for a year-card party (kiosk/flows/card_seats.py): best available, taps, togetherness."""

from __future__ import annotations

from backend_client.wire import SeatMap, SeatState, SeatView
from kiosk.flows import card_seats
from tests.support.fakes import small_hall


def row_of(keys: tuple[tuple[str, str], ...]) -> set[str]:
    return {row for row, _ in keys}


def test_best_available_keeps_a_party_together_in_the_middle_towards_the_back() -> None:
    hall = small_hall()
    chosen = card_seats.best_available(hall, 2)
    assert len(chosen) == 2
    assert card_seats.together(hall, chosen)
    assert row_of(chosen) == {"3"}  # 60 % of the way back in a 5-row hall: the third row from the screen
    # beside the aisle, on the side nearer the middle: seats 3-4 or 5-6
    assert chosen in ((("3", "3"), ("3", "4")), (("3", "5"), ("3", "6")))


def test_best_available_never_splits_a_party_across_the_aisle() -> None:
    hall = small_hall()
    chosen = card_seats.best_available(hall, 4)
    assert card_seats.together(hall, chosen)
    seats = sorted(int(seat) for _, seat in chosen)
    assert seats in ([1, 2, 3, 4], [5, 6, 7, 8])


def test_best_available_moves_to_another_row_rather_than_split_the_party() -> None:
    taken = tuple(("3", str(n)) for n in (2, 3, 6, 7))
    hall = small_hall(taken=taken)
    chosen = card_seats.best_available(hall, 2)
    assert card_seats.together(hall, chosen)
    assert row_of(chosen) != {"3"}


def test_best_available_leaves_accessible_seats_unless_nothing_else_is_free() -> None:
    everyone_else = tuple((str(r), str(n)) for r in range(1, 6) for n in range(1, 9)
                          if (str(r), str(n)) not in (("1", "1"), ("1", "2"), ("2", "5")))
    hall = small_hall(taken=everyone_else)
    assert card_seats.best_available(hall, 1) == (("2", "5"),)
    assert set(card_seats.best_available(hall, 2)) == {("1", "1"), ("1", "2")}
    plain = small_hall()
    assert not any(s.accessible for s in plain.seats if (s.row, s.seat) in card_seats.best_available(plain, 8))


def test_best_available_avoids_stranding_one_seat() -> None:
    # row 3 left block: seats 1..4 free; a pair at 2-3 would strand seats 1 and 4
    taken = tuple((str(r), str(n)) for r in range(1, 6) for n in range(1, 9) if not (r == 3 and n <= 4))
    hall = small_hall(taken=taken, accessible=())
    chosen = card_seats.best_available(hall, 2)
    assert chosen in ((("3", "1"), ("3", "2")), (("3", "3"), ("3", "4")))


def test_best_available_splits_only_when_no_block_is_long_enough() -> None:
    free = {("2", "1"), ("2", "2"), ("4", "7")}
    taken = tuple((str(r), str(n)) for r in range(1, 6) for n in range(1, 9) if (str(r), str(n)) not in free)
    hall = small_hall(taken=taken, accessible=())
    chosen = card_seats.best_available(hall, 3)
    assert set(chosen) == free
    assert card_seats.best_available(hall, 4) == ()


def test_a_tap_chooses_unchooses_and_stops_at_the_party_size() -> None:
    hall = small_hall(taken=(("3", "3"),))
    assert card_seats.toggle(hall, (), ("3", "1"), 2) == (("3", "1"),)
    assert card_seats.toggle(hall, (("3", "1"),), ("3", "1"), 2) == ()
    assert card_seats.toggle(hall, (), ("3", "3"), 2) is None  # taken
    assert card_seats.toggle(hall, (("3", "1"), ("3", "2")), ("3", "4"), 2) is None  # full
    assert card_seats.toggle(hall, (("3", "1"),), ("3", "4"), 1) == (("3", "4"),)  # a party of one moves


def test_held_seats_are_not_free() -> None:
    hall = SeatMap(showing_id="s", hall_name="h", columns=2, rows=1, seats=[
        SeatView(row="1", seat="1", x=0, y=0, state=SeatState.HELD),
        SeatView(row="1", seat="2", x=1, y=0, state=SeatState.FREE)])
    assert card_seats.toggle(hall, (), ("1", "1"), 1) is None
    assert card_seats.best_available(hall, 1) == (("1", "2"),)
    assert card_seats.best_available(hall, 2) == ()


def test_together_and_still_free() -> None:
    hall = small_hall(taken=(("2", "2"),))
    assert card_seats.together(hall, (("3", "3"), ("3", "4")))
    assert not card_seats.together(hall, (("3", "4"), ("3", "5")))  # across the aisle
    assert not card_seats.together(hall, (("3", "3"), ("4", "3")))
    assert card_seats.still_free(hall, (("2", "1"), ("2", "2"))) == (("2", "1"),)
