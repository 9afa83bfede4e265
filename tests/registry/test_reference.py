"""References read aloud and typed on a keypad: look-alikes excluded, slips caught."""

from __future__ import annotations

import random

from registry import reference


def test_no_look_alike_characters():
    # Of each look-alike pair (5/S, 2/Z, 8/B, 6/G) the digit stays, the letter goes.
    assert not set(reference.ALPHABET) & set("0O1ILSZBGUVQ")


def test_every_single_character_slip_and_neighbour_swap_is_caught():
    rng = random.Random(7)
    swaps_missed = 0
    for _ in range(300):
        ref, keypad = reference.new_reference()
        code = ref.replace("-", "")
        for i in range(len(code)):
            for ch in reference.ALPHABET:
                if ch != code[i]:
                    assert reference.normalise(code[:i] + ch + code[i + 1:]) is None
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
                swaps_missed += reference.normalise(swapped) is not None
        digit = rng.randrange(len(keypad))
        wrong = str((int(keypad[digit]) + rng.randrange(1, 10)) % 10)
        assert reference.normalise_keypad(keypad[:digit] + wrong + keypad[digit + 1:]) is None
    assert swaps_missed < 300 * 6 * 0.05


def test_forms_round_trip_and_are_forgiving_about_case_and_spaces():
    ref, keypad = reference.new_reference()
    assert reference.normalise(ref.lower().replace("-", " ")) == ref
    assert reference.normalise_keypad(" ".join(keypad)) == keypad
    assert reference.from_number(0) == ("2222-222", "0000000000")
