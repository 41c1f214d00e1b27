"""Short-link codes: hashids over ``(link id, secret)``.

hashids is reversible and its salt can be recovered from enough codes, so a code that only
encoded the row id would be enumerable. Each link stores a random ``secret`` drawn from
``[44**3, 44**4)`` (about 3.7 million values, four hashids digits); a decoded pair whose
secret does not match the stored one is treated as unknown. With ``MIN_LENGTH`` 10, codes
are 10 characters up to link id 3,748,095 (44**4 - 1), 11 up to 44**5 - 1 (≈165 million),
12 beyond. Unknown codes are rate-limited per address, so guessing stays out of reach.

The salt and the key of click address hashes are derived from ``SHORTLINK_SECRET``, each
under its own label, so that neither reveals the other.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence

import hashids as hashids_module
from hashids import Hashids

# hashids' default alphabet keeps 44 characters for digits (the rest are separators and
# guards); the secret always takes four of them.
DIGITS = 44
SECRET_MIN = DIGITS**3
SECRET_MAX = DIGITS**4 - 1
MIN_LENGTH = 10
MAX_LENGTH = 24
#: What a code looks like in a URL (letters and digits only, so it never clashes with
#: the app's own paths, which are shorter words or have more segments).
CODE_PATTERN = rf"[0-9A-Za-z]{{{MIN_LENGTH},{MAX_LENGTH}}}"


def derive_key(secret: str, label: str) -> bytes:
    """A key for one purpose (``label``) derived from the ``SHORTLINK_SECRET`` setting."""
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=4096)
def _reorder(alphabet: str, salt: str) -> str:
    result: str = hashids_module._reorder(alphabet, salt)
    return result


class _Hashids:
    """hashids 1.3 (its parameters, its output) with the alphabet shuffles memoised: for
    codes of two numbers they take only a few hundred distinct inputs, and recomputing
    them is most of the library's time. Tests compare it with the library."""

    def __init__(self, salt: str) -> None:
        library = Hashids(salt=salt, min_length=MIN_LENGTH)
        self.salt: str = library._salt
        self.alphabet: str = library._alphabet
        self.separators: str = library._separators
        self.guards: str = library._guards

    def encode(self, *values: int) -> str:
        alphabet = self.alphabet
        size = len(alphabet)
        values_hash = sum(x % (i + 100) for i, x in enumerate(values))
        encoded = lottery = alphabet[values_hash % size]
        for i, value in enumerate(values):
            alphabet = _reorder(alphabet, (lottery + self.salt + alphabet)[:size])
            last: str = hashids_module._hash(value, alphabet)
            encoded += last
            encoded += self.separators[(value % (ord(last[0]) + i)) % len(self.separators)]
        encoded = encoded[:-1]
        if len(encoded) >= MIN_LENGTH:
            return encoded
        return self._pad(encoded, alphabet, values_hash)

    def _pad(self, encoded: str, alphabet: str, values_hash: int) -> str:
        guards = self.guards
        encoded = guards[(values_hash + ord(encoded[0])) % len(guards)] + encoded
        if len(encoded) < MIN_LENGTH:
            encoded += guards[(values_hash + ord(encoded[2])) % len(guards)]
        split_at = len(alphabet) // 2
        while len(encoded) < MIN_LENGTH:
            alphabet = _reorder(alphabet, alphabet)
            encoded = alphabet[split_at:] + encoded + alphabet[:split_at]
            excess = len(encoded) - MIN_LENGTH
            if excess > 0:
                start = excess // 2
                encoded = encoded[start : start + MIN_LENGTH]
        return encoded

    def decode(self, code: str) -> tuple[int, ...]:
        parts = tuple(hashids_module._split(code, self.guards))
        body = parts[1] if 2 <= len(parts) <= 3 else parts[0]
        if not body:
            return ()
        lottery, body = body[0], body[1:]
        alphabet = self.alphabet
        numbers = []
        try:
            for part in hashids_module._split(body, self.separators):
                alphabet = _reorder(alphabet, (lottery + self.salt + alphabet)[: len(alphabet)])
                numbers.append(int(hashids_module._unhash(part, alphabet)))
        except ValueError:
            return ()
        # Only the canonical spelling of the numbers is a code.
        return tuple(numbers) if numbers and self.encode(*numbers) == code else ()


@functools.lru_cache(maxsize=8)
def _hashids(secret: str) -> _Hashids:
    return _Hashids(derive_key(secret, "codes").hex())


def new_secret() -> int:
    """A random secret for a new link (``secrets``: not predictable from earlier ones)."""
    return SECRET_MIN + secrets.randbelow(SECRET_MAX - SECRET_MIN + 1)


def encode(link_id: int, link_secret: int, secret: str) -> str:
    """The code of link ``link_id`` with its stored ``link_secret``."""
    if link_id < 1 or not SECRET_MIN <= link_secret <= SECRET_MAX:
        raise ValueError("link id must be positive and the secret in range")
    return _hashids(secret).encode(link_id, link_secret)


def encode_many(pairs: Sequence[tuple[int, int]], secret: str) -> list[str]:
    """Codes of many ``(link id, link secret)`` pairs, in order (no per-pair checks: the
    pairs come from the database)."""
    hashids = _hashids(secret)
    return [hashids.encode(link_id, link_secret) for link_id, link_secret in pairs]


def decode(code: str, secret: str) -> tuple[int, int] | None:
    """``(link id, link secret)`` of a well-formed code, or None. The caller must still
    compare the secret with the stored one."""
    if not MIN_LENGTH <= len(code) <= MAX_LENGTH or not code.isascii() or not code.isalnum():
        return None
    numbers = _hashids(secret).decode(code)
    if len(numbers) != 2:
        return None
    link_id, link_secret = int(numbers[0]), int(numbers[1])
    if link_id < 1 or not SECRET_MIN <= link_secret <= SECRET_MAX:
        return None
    return link_id, link_secret
