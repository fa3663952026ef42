"""The budget of refusals recorded one by one: past it they are counted, and the count is carried."""

from __future__ import annotations

from mlwarden.serve._refusals import RefusalBudget


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_within_the_budget_every_refusal_is_recorded() -> None:
    budget = RefusalBudget(budget=3, window=60, monotonic=Tick())
    assert [budget.admit("a") for _ in range(3)] == [0, 0, 0]


def test_past_the_budget_refusals_are_counted_and_carried_by_the_next_recorded_one() -> None:
    tick = Tick()
    budget = RefusalBudget(budget=2, window=60, monotonic=tick)
    assert [budget.admit("a") for _ in range(5)] == [0, 0, None, None, None]
    assert budget.admit("b") == 0  # sources are apart
    tick.now = 59.9
    assert budget.admit("a") is None
    tick.now = 60.0  # a new window: recorded again, carrying the four counted meanwhile
    assert budget.admit("a") == 4
    assert budget.admit("a") == 0
    assert budget.outstanding() == 0


def test_what_is_still_counted_at_the_end_is_handed_over_once() -> None:
    budget = RefusalBudget(budget=1, window=60, monotonic=Tick())
    for source in ("a", "b"):
        for _ in range(4):
            budget.admit(source)
    assert budget.outstanding() == 6
    assert budget.outstanding() == 0


def test_forgotten_sources_keep_their_count() -> None:
    budget = RefusalBudget(budget=1, window=60, max_sources=2, monotonic=Tick())
    for source in ("a", "a", "a", "b", "c"):  # "a" (two counted) is forgotten when "c" arrives
        budget.admit(source)
    assert budget.outstanding() == 2


def test_a_refusal_charged_to_several_sources_is_recorded_only_while_all_have_room() -> None:
    budget = RefusalBudget(budget=2, window=60, monotonic=Tick())
    # One id, many addresses: the id's budget runs out, whatever the address.
    assert [budget.admit(f"addr {i}", "id x") for i in range(5)] == [0, 0, None, None, None]
    # Another id from the same addresses is unaffected: the addresses' budgets still have room...
    assert budget.admit("addr 3", "id y") == 0
    # ...and each refusal counted is counted against one source only (the first without room).
    assert budget.admit("addr 0", "id y") == 0
    assert budget.admit("addr 0", "id z") is None  # addr 0 is spent now
    assert budget.outstanding() == 4
