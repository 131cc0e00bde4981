"""RVL, the lossless depth codec of compressed_depth_image_transport (A. D. Wilson, "Fast
Lossless Depth Image Compression", ISS 2017), in numpy, word for word as the C++ RvlCodec.

The pixels are read as runs: a count of zeros, a count of nonzeros, then each nonzero pixel as
the zigzag-coded difference to the previous nonzero pixel. Every number is a variable-length
code of 3-bit groups, low bits first, one per nibble with 0x8 = "more follows"; nibbles fill
32-bit little-endian words from their most significant end, the last word padded with 0.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.errors import PrivposeInputError


def _nibbles(words: np.ndarray) -> np.ndarray:
    """32-bit words -> their 8 nibbles each, most significant first (the codec's order)."""
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    return ((words[:, None] >> shifts[None, :]) & 0xF).astype(np.int64).reshape(-1)


def _vle_values(nibbles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length values (3 bits per nibble, low bits first, 0x8 = more) and the nibble
    index where each ends. A value left open at the end of the stream is dropped."""
    last = (nibbles & 0x8) == 0
    ends = np.flatnonzero(last)
    open_tail = nibbles.size - (int(ends[-1]) + 1 if ends.size else 0)
    starts = np.empty_like(ends)
    starts[:1], starts[1:] = 0, ends[:-1] + 1
    # 11 nibbles = 33 bits: more than any count or delta
    if open_tail > 10 or (ends.size and int((ends - starts).max()) > 10):
        raise PrivposeInputError("corrupt RVL stream: a variable-length value runs past 33 bits")
    if ends.size == 0:
        return np.zeros(0, np.int64), ends
    used = nibbles[: ends[-1] + 1]
    owner = np.cumsum(last[: used.size]) - last[: used.size]
    shift = 3 * (np.arange(used.size) - starts[owner])
    return np.add.reduceat((used & 0x7).astype(np.int64) << shift, starts), ends


def rvl_decode(stream: bytes, width: int, height: int) -> np.ndarray:
    """An RVL stream (no size prefix) to (height, width) uint16."""
    num = width * height
    if len(stream) % 4:
        raise PrivposeInputError(
            f"RVL stream of {len(stream)} bytes is not whole 32-bit words (truncated?)"
        )
    values, ends = _vle_values(_nibbles(np.frombuffer(stream, "<u4").astype(np.uint32)))
    vals = values.tolist()
    heads: list[int] = []  # value index of each run's zero count; runs: zeros, then nonzeros
    pos, remaining = 0, num
    try:
        while remaining > 0:  # each step moves on >= 2 values: ends at the stream's end
            heads.append(pos)
            remaining -= vals[pos] + vals[pos + 1]
            pos += 2 + vals[pos + 1]
    except IndexError:
        raise PrivposeInputError(
            f"RVL stream ends after {num - remaining} of {width}x{height} = {num} pixels "
            "(truncated, or the size in the RVL header is too large)"
        ) from None
    head = np.asarray(heads, np.int64)
    zeros, nonzeros = values[head], values[head + 1]
    if pos > len(vals):
        raise PrivposeInputError(
            f"RVL stream ends inside a run of {int(nonzeros[-1])} pixels (truncated)"
        )
    if remaining < 0 or not (zeros + nonzeros).all():
        raise PrivposeInputError(
            f"corrupt RVL stream: its runs do not add up to {width}x{height} = {num} pixels "
            "(wrong size in the RVL header?)"
        )
    used_words = int(ends[pos - 1]) // 8 + 1
    if used_words * 4 != len(stream):
        raise PrivposeInputError(
            f"RVL stream has {len(stream) - used_words * 4} bytes after the {width}x{height} "
            "image (wrong size in the RVL header?)"
        )
    before = np.cumsum(nonzeros) - nonzeros
    index = np.repeat(head + 2 - before, nonzeros) + np.arange(int(nonzeros.sum()))
    positive = values[index]
    if positive.size and int(positive.max()) > 2 * 0xFFFF:
        raise PrivposeInputError("corrupt RVL stream: a delta exceeds 16 bits")
    current = np.cumsum((positive >> 1) ^ -(positive & 1)) & 0xFFFF
    if positive.size and not current.all():
        raise PrivposeInputError("corrupt RVL stream: a run of valid pixels decodes to 0")
    lengths = np.stack([zeros, nonzeros], axis=1).reshape(-1)
    mask = np.repeat(np.tile(np.array([False, True]), zeros.size), lengths)
    out = np.zeros(num, np.uint16)
    out[mask] = current
    return out.reshape(height, width)


def rvl_encode(pixels: np.ndarray) -> bytes:
    """(H, W) uint16 -> RVL stream (no size prefix), word for word as the C++ RvlCodec."""
    flat = np.asarray(pixels, np.uint16).reshape(-1).astype(np.int64)
    if flat.size == 0:
        return b""
    valid = flat != 0
    edges = np.flatnonzero(np.diff(valid.astype(np.int8))) + 1
    starts = np.r_[0, edges]
    lengths = np.diff(np.r_[starts, flat.size])
    if valid[0]:  # runs alternate zeros, nonzeros: a leading nonzero run has 0 zeros before it
        lengths = np.r_[0, lengths]
    if lengths.size % 2:  # ends in zeros: a last (zeros, 0 nonzeros)
        lengths = np.r_[lengths, 0]
    zeros, nonzeros = lengths[0::2], lengths[1::2]
    current = flat[valid]
    delta = np.diff(np.r_[0, current])
    positive = np.where(delta >= 0, 2 * delta, -2 * delta - 1)
    heads = 2 * np.arange(zeros.size) + np.cumsum(nonzeros) - nonzeros
    values = np.zeros(2 * zeros.size + current.size, np.int64)
    is_head = np.zeros(values.size, bool)
    is_head[heads], is_head[heads + 1] = True, True
    values[heads], values[heads + 1] = zeros, nonzeros
    values[~is_head] = positive
    sizes = 1 + sum((values >> (3 * k) > 0).astype(np.int64) for k in range(1, 11))
    owner = np.repeat(np.arange(values.size), sizes)
    within = np.arange(owner.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    nibbles = ((values[owner] >> (3 * within)) & 0x7) | np.where(within < sizes[owner] - 1, 0x8, 0)
    nibbles = np.r_[nibbles, np.zeros(-nibbles.size % 8, np.int64)].reshape(-1, 8)
    words = (nibbles << np.arange(28, -1, -4)).sum(axis=1).astype("<u4")
    return words.tobytes()
