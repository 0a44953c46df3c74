"""registry.exact_json reads and writes JSON exactly as the standard library does, whatever the
value: the orjson path is taken only where it gives the same result."""

from __future__ import annotations

import json
import math
import random

import pytest

from registry import exact_json

AWKWARD = [0.1, 1e16, 1e-05, -0.0, 5e-324, 1.7976931348623157e308, float("nan"), float("inf"), -float("inf"),
           2**63 - 1, -2**63, 2**64 - 1, 2**64, -(2**70), 10**30, True, False, None, "", "null", ":1.5,", "[12e3",
           "é\u2028\x7f\x00\x1f\"\\/", "\U0001f600", "f1.csv", 0, -1, 123456789012345678]


def random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(AWKWARD)
    if roll < 0.7:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["a", "type", "q_path", "é", "null", "1.5"]) + str(i): random_value(rng, depth + 1)
            for i in range(rng.randint(0, 4))}


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN and types compared (1 is not 1.0, True is not 1)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


@pytest.mark.parametrize("seed", range(5))
def test_written_and_read_as_the_standard_library_does(seed):
    rng = random.Random(seed)
    for _ in range(2000):
        value = {"type": "ROOT", "children": {"x": random_value(rng)}}
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        assert exact_json.dumps_compact(value) == expected
        assert same(exact_json.loads(expected), json.loads(expected))
