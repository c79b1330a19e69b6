"""The active-users window: distinct users within the window, bounded memory."""

from service.core.active_users import ActiveUsers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_counts_distinct_users_seen_within_the_window():
    clock = Clock()
    active = ActiveUsers(window_s=300, clock=clock)
    for user in ("a", "b", "a"):
        active.touch(user)
    assert active.count() == 2
    clock.now = 200
    active.touch("c")
    clock.now = 350  # a and b were last seen at 0: out of the window; c at 200: in
    assert active.count() == 1


def test_a_user_seen_again_stays_in_the_window():
    clock = Clock()
    active = ActiveUsers(window_s=10, clock=clock)
    active.touch("a")
    clock.now = 8
    active.touch("a")
    clock.now = 15
    assert active.count() == 1


def test_memory_is_bounded_by_the_capacity():
    active = ActiveUsers(capacity=3, clock=Clock())
    for user in "abcdef":
        active.touch(user)
    assert active.count() == 3
