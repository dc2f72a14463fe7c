"""Hand-made sessions with known answers, for the tests of the evaluation and its report."""

# T = 40, W = 10: the test fold fits on sessions starting before 30, evaluates [30, 40].
HAND_MADE = [
    # history: popularity is z (3 viewers), c (2, 5 steps), b (2, 4 steps), a (1 viewer)
    (1, "a", 0, 10),
    (1, "b", 10, 12),
    (2, "z", 0, 5),
    (2, "c", 5, 6),
    (3, "z", 0, 5),
    (4, "z", 0, 5),
    (4, "b", 6, 8),
    (5, "c", 0, 4),
    # test window: live at 31 = {c}; at 32 = {a, c} (z and b are not live)
    (1, "a", 32, 35),  # user 1 returns to their top streamer: a repeat target
    (1, "c", 36, 38),  # then discovers c
    (2, "c", 31, 34),  # user 2 returns to c, the only live streamer at 31
    (4, "c", 32, 33),  # user 4 discovers c
    (6, "a", 33, 34),  # user 6 has no history: cold, not evaluated
    (7, "b", 40, 40),  # T = 40; user 7 has no history either
]
A, B, C, Z = 0, 1, 2, 3
