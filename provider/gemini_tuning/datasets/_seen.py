"""A fixed-size set of "lines seen before", for the duplicate warning in constant memory."""

from __future__ import annotations

_BITS_LOG2 = 28  # 2**28 bits = 32 MiB
_MASK = (1 << _BITS_LOG2) - 1


_EXACT_LIMIT = 1 << 16  # lines remembered exactly (a few MB) before the fixed-size filter


class SeenFilter:
    """The hashes of the first 65,536 lines in a set, then a Bloom filter with 3 probes over 2**28
    bits (32 MiB, whatever the file's size) that takes them over.

    A repeated line is always recognised. Up to the limit nothing else is taken for a repeat;
    past it, a new line is wrongly taken for a repeat with probability about
    (1 - e^(-3n/2**28))**3: about 1e-6 after a million lines, 1e-4 after four million. That is
    acceptable for a warning. The hash is Python's own (salted per process, and several times
    faster than a cryptographic one), so *which* rare false repeat shows up may differ between
    runs; true repeats are found every time. The set spares a small file the 32 MiB (the
    emulator validates every job's data, and zeroing 32 MiB took longer than a small file).
    """

    def __init__(self) -> None:
        self._exact: set[int] | None = set()
        self._bits = bytearray()

    def add(self, data: bytes) -> bool:
        """Record ``data``; True if it was (probably) seen before."""
        h = hash(data)
        exact = self._exact
        if exact is None:
            return self._add_hash(h)
        if h in exact:
            return True
        exact.add(h)
        if len(exact) > _EXACT_LIMIT:
            self._bits = bytearray(1 << (_BITS_LOG2 - 3))
            for remembered in exact:
                self._add_hash(remembered)
            self._exact = None
        return False

    def _add_hash(self, h: int) -> bool:
        """Unrolled: it runs per line."""
        bits = self._bits
        i1 = h & _MASK
        step = ((h >> 32) & _MASK) | 1
        i2 = (i1 + step) & _MASK
        i3 = (i2 + step) & _MASK
        b1, b2, b3 = 1 << (i1 & 7), 1 << (i2 & 7), 1 << (i3 & 7)
        i1, i2, i3 = i1 >> 3, i2 >> 3, i3 >> 3
        if bits[i1] & b1 and bits[i2] & b2 and bits[i3] & b3:
            return True
        bits[i1] |= b1
        bits[i2] |= b2
        bits[i3] |= b3
        return False

    def close(self) -> None:
        self._exact = None
        self._bits = bytearray()
