"""The stock profile of the constructive schedulers against a brute-force count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aps.heuristics.stock import StockProfile

Event = tuple[int, int]


def brute_earliest_draw(initial: int, events: list[Event], t: int, q: int) -> int | None:
    """Try t and every later event time; arrivals at a tick count before draws at it."""
    for tau in sorted({t, *(tm for tm, _ in events if tm > t)}):
        drawn = [*events, (tau, -q)]
        if all(
            initial + sum(d for tm, d in drawn if tm <= at) >= 0
            for at in {tau, *(tm for tm, _ in events if tm >= tau)}
        ):
            return tau
    return None


steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 60), st.integers(-10, 10)),
        st.tuples(st.just("ask"), st.integers(0, 70), st.integers(0, 25)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    initial=st.integers(0, 20),
    events=st.lists(st.tuples(st.integers(0, 50), st.integers(-10, 15)), max_size=8),
    script=steps,
)
def test_earliest_draw_matches_a_brute_force_count(
    initial: int, events: list[Event], script: list[tuple[str, int, int]]
) -> None:
    """Tests every answer of an incrementally updated profile (and of copies) against
    counting the stock at every later event with the draw added."""
    profile, known = StockProfile(initial, events), list(events)
    for kind, a, b in script:
        if kind == "add":
            profile.add(a, b)
            known.append((a, b))
        else:
            assert profile.earliest_draw(a, b) == brute_earliest_draw(initial, known, a, b)
        profile = profile.copy()
