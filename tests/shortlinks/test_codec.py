"""Short-link codes: about 10 characters, distinct for every link, and useless without the
stored secret."""

from __future__ import annotations

import random
import string

import pytest
from hashids import Hashids

from interactive.shortlinks import codec

SECRET = "test shortlink secret"


def test_codes_are_ten_characters_for_the_first_millions_of_links() -> None:
    rng = random.Random(7)
    for link_id in (1, 2, 43, 44, 1936, 85_184, 1_000_000, codec.DIGITS**4 - 1):
        for link_secret in (
            codec.SECRET_MIN,
            codec.SECRET_MAX,
            rng.randint(codec.SECRET_MIN, codec.SECRET_MAX),
        ):
            assert len(codec.encode(link_id, link_secret, SECRET)) == 10
    assert len(codec.encode(codec.DIGITS**4, codec.SECRET_MAX, SECRET)) == 11
    assert len(codec.encode(codec.DIGITS**5 - 1, codec.SECRET_MAX, SECRET)) == 11


def test_codes_round_trip_and_never_collide() -> None:
    rng = random.Random(11)
    ids = [*range(1, 60_001), *rng.sample(range(60_001, 2**40), 20_000)]
    codes = {}
    for link_id in ids:
        link_secret = codec.new_secret()
        code = codec.encode(link_id, link_secret, SECRET)
        assert code.isalnum() and code.isascii()
        assert codec.decode(code, SECRET) == (link_id, link_secret)
        codes[code] = link_id
    assert len(codes) == len(ids)


def test_encode_many_matches_encode() -> None:
    pairs = [(n, codec.SECRET_MIN + n) for n in range(1, 200)]
    assert codec.encode_many(pairs, SECRET) == [codec.encode(i, s, SECRET) for i, s in pairs]


def test_tampered_codes_do_not_give_the_link() -> None:
    """hashids is no signature: a changed character now and then decodes to some other
    pair, whose secret then does not match the stored one (the redirect answers 404)."""
    pair = (4242, codec.SECRET_MIN + 99)
    code = codec.encode(*pair, SECRET)
    alphabet = string.ascii_letters + string.digits
    decoded = []
    for position in range(len(code)):
        for char in alphabet:
            if char != code[position]:
                tampered = code[:position] + char + code[position + 1 :]
                decoded.append(codec.decode(tampered, SECRET))
    assert pair not in decoded
    assert sum(d is not None for d in decoded) < len(decoded) / 50
    for bad in ("", "abc", code + "!", code[:-1], code + code, "ü" * 10, "../" + code):
        assert codec.decode(bad, SECRET) is None


def test_another_salt_does_not_decode_the_same_pair() -> None:
    code = codec.encode(4242, codec.SECRET_MIN + 99, SECRET)
    assert codec.decode(code, "another secret") != (4242, codec.SECRET_MIN + 99)


def test_secrets_are_random_and_in_range() -> None:
    drawn = {codec.new_secret() for _ in range(1000)}
    assert len(drawn) > 990
    assert all(codec.SECRET_MIN <= s <= codec.SECRET_MAX for s in drawn)


@pytest.mark.parametrize(
    "pair", [(0, codec.SECRET_MIN), (1, codec.SECRET_MIN - 1), (1, codec.SECRET_MAX + 1)]
)
def test_out_of_range_pairs_are_refused(pair: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="secret"):
        codec.encode(*pair, SECRET)


def test_the_memoised_codec_gives_what_the_library_gives() -> None:
    salt = codec.derive_key(SECRET, "codes").hex()
    library = Hashids(salt=salt, min_length=codec.MIN_LENGTH)
    rng = random.Random(5)
    for _ in range(5000):
        pair = (rng.randint(1, 2**40), rng.randint(codec.SECRET_MIN, codec.SECRET_MAX))
        code = codec.encode(*pair, SECRET)
        assert code == library.encode(*pair)
    for numbers in ((1,), (0, 0), (5, 6, 7), (2**63, 1)):
        assert codec._hashids(SECRET).encode(*numbers) == library.encode(*numbers)
    alphabet = string.ascii_letters + string.digits
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        assert codec._hashids(SECRET).decode(text) == library.decode(text)
    for _ in range(2000):
        code = codec.encode(rng.randint(1, 10**7), codec.new_secret(), SECRET)
        at = rng.randrange(len(code))
        tampered = code[:at] + rng.choice(alphabet) + code[at + 1 :]
        assert codec._hashids(SECRET).decode(tampered) == library.decode(tampered)
