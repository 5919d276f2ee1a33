"""Request ids the gateway makes: 32 hex digits, unique, a new prefix per worker."""

from __future__ import annotations

import re

from gateway.request_ids import RequestIds, is_sane


def test_ids_are_32_hex_digits_and_unique() -> None:
    ids = RequestIds()
    made = [ids.next() for _ in range(1000)]
    assert all(re.fullmatch(rb"[0-9a-f]{32}", rid) for rid in made)
    assert len(set(made)) == 1000
    assert all(is_sane(rid.decode()) for rid in made)


def test_reseed_draws_a_new_prefix_and_restarts_the_counter() -> None:
    ids = RequestIds()
    first = ids.next()
    ids.reseed()
    again = ids.next()
    assert first[:16] != again[:16]
    assert first[16:] == again[16:] == b"0" * 16
