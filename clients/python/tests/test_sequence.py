"""Gap, restart and repeat accounting from (start_epoch, seq)."""

from voronoid import SequenceTracker


def test_consecutive_numbers_miss_nothing():
    t = SequenceTracker()
    assert [t.observe("centers.bin", 7, s) for s in (1, 2, 3, 4)] == [0, 0, 0, 0]
    assert t.missed == {"centers.bin": 0} and t.restarts == {} and t.repeats == {}
    assert t.last_seen("centers.bin") == 4 and t.last_seen("heartbeat") is None


def test_late_joiner_starts_counting_at_its_first_message():
    t = SequenceTracker()
    assert t.observe("assignments.bin", 7, 1000) == 0
    assert t.observe("assignments.bin", 7, 1001) == 0
    assert t.total_missed == 0


def test_jumps_count_the_messages_between():
    t = SequenceTracker()
    t.observe("assignments.bin", 7, 1)
    assert t.observe("assignments.bin", 7, 5) == 3
    assert t.observe("assignments.bin", 7, 6) == 0
    assert t.observe("assignments.bin", 7, 8) == 1
    assert t.missed == {"assignments.bin": 4}


def test_topics_are_counted_apart():
    t = SequenceTracker()
    t.observe("heartbeat", 7, 1)
    t.observe("events", 7, 10)
    t.observe("heartbeat", 7, 3)
    t.observe("events", 7, 11)
    assert t.missed == {"heartbeat": 1, "events": 0}


def test_new_start_epoch_is_a_restart_not_a_gap():
    t = SequenceTracker()
    t.observe("centers.bin", 7, 40)
    assert t.observe("centers.bin", 9, 1) == 0
    assert t.observe("centers.bin", 9, 2) == 0
    # A later start_epoch with a high first number (published before we reconnected) is a
    # restart too.
    assert t.observe("centers.bin", 11, 30) == 0
    assert t.missed == {"centers.bin": 0}
    assert t.restarts == {"centers.bin": 2}


def test_repeats_are_neither_gaps_nor_progress():
    # The daemon re-sends its latest centers when anyone subscribes; everyone subscribed gets them.
    t = SequenceTracker()
    t.observe("centers.bin", 7, 3)
    assert t.observe("centers.bin", 7, 3) == 0
    assert t.observe("centers.bin", 7, 2) == 0
    assert t.observe("centers.bin", 7, 4) == 0
    assert t.repeats == {"centers.bin": 2} and t.missed == {"centers.bin": 0}


def test_unsequenced_messages_are_ignored():
    t = SequenceTracker()
    t.observe("x", 7, 0)
    assert t.missed == {} and t.last_seen("x") is None
