"""A fixed-size set of "lines seen before", for the duplicate warning in constant memory."""

from __future__ import annotations

import hashlib
import mmap

_BITS_LOG2 = 28  # 2**28 bits = 32 MiB of anonymous memory, touched only where bits are set
_MASK = (1 << _BITS_LOG2) - 1


class SeenFilter:
    """A Bloom filter with 3 probes over 2**28 bits.

    A repeated line is always recognised; a new line is wrongly taken for a repeat with
    probability about (1 - e^(-3n/2**28))**3: about 1e-6 after a million lines, 1e-4 after four
    million. That is acceptable for a warning, and memory stays flat whatever the file's size.
    The hash is BLAKE2b, so the answer is the same in every process.
    """

    def __init__(self) -> None:
        self._bits = mmap.mmap(-1, 1 << (_BITS_LOG2 - 3))

    def add(self, data: bytes) -> bool:
        """Record ``data``; True if it was (probably) recorded before."""
        h = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
        first = h & _MASK
        step = ((h >> 32) & _MASK) | 1
        bits = self._bits
        seen = True
        for index in (first, (first + step) & _MASK, (first + 2 * step) & _MASK):
            byte, bit = index >> 3, 1 << (index & 7)
            value = bits[byte]
            if not value & bit:
                seen = False
                bits[byte] = value | bit
        return seen

    def close(self) -> None:
        self._bits.close()
