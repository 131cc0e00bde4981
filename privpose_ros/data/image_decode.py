"""sensor_msgs/Image payloads to numpy, honouring encoding, step (row padding) and endianness.

No ROS import: works on the fields of any Image-like message (rclpy, rosbags, a dict).
Colour becomes (H, W, 3) uint8 RGB; depth becomes (H, W) uint16 millimetres (REP 118:
16UC1 = mm, 32FC1 = metres; 0 / NaN = no reading).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import depth_m_to_mm

# encoding -> (channels, numpy dtype of one channel)
_LAYOUT: dict[str, tuple[int, str]] = {
    "rgb8": (3, "u1"),
    "bgr8": (3, "u1"),
    "rgba8": (4, "u1"),
    "bgra8": (4, "u1"),
    "mono8": (1, "u1"),
    "8uc1": (1, "u1"),
    "mono16": (1, "u2"),
    "16uc1": (1, "u2"),
    "32fc1": (1, "f4"),
}
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def image_to_array(
    height: int, width: int, encoding: str, step: int, is_bigendian: bool, data: bytes | np.ndarray
) -> np.ndarray:
    """The raw image as (H, W) or (H, W, C) in native byte order (no colour conversion)."""
    enc = encoding.lower()
    if enc not in _LAYOUT:
        raise PrivposeInputError(
            f"unsupported image encoding '{encoding}'; use one of "
            f"{list(COLOUR_ENCODINGS) + list(DEPTH_ENCODINGS)}"
        )
    channels, kind = _LAYOUT[enc]
    dtype = np.dtype(kind).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise PrivposeInputError(
            f"{encoding} image step {step} is smaller than width * pixel size = {row_bytes}"
        )
    buf = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buf.size < step * height:
        raise PrivposeInputError(
            f"image data has {buf.size} bytes but height * step = {height * step}; "
            "the message is truncated or its step is wrong"
        )
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    pixels = pixels.astype(dtype.newbyteorder("="), copy=False)
    return pixels[..., 0] if channels == 1 else pixels


def decode_colour(
    height: int, width: int, encoding: str, step: int, is_bigendian: bool, data: bytes | np.ndarray
) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 / bgr8 / rgba8 / bgra8 / mono8 image."""
    enc = encoding.lower()
    if enc not in COLOUR_ENCODINGS:
        raise PrivposeInputError(
            f"colour image encoding '{encoding}' is not supported; use one of {COLOUR_ENCODINGS}"
        )
    px = image_to_array(height, width, encoding, step, is_bigendian, data)
    if enc == "mono8":
        return np.repeat(px[..., None], 3, axis=2)
    if enc.startswith("bgr"):
        px = px[..., 2::-1]
    return np.ascontiguousarray(px[..., :3])


def decode_depth_mm(
    height: int, width: int, encoding: str, step: int, is_bigendian: bool, data: bytes | np.ndarray
) -> np.ndarray:
    """(H, W) uint16 millimetres from 16UC1 / mono16 (mm) or 32FC1 (metres) depth."""
    enc = encoding.lower()
    if enc not in ("16uc1", "mono16", "32fc1"):
        raise PrivposeInputError(
            f"depth image encoding '{encoding}' is not supported; use 16UC1 (mm) or 32FC1 (m)"
        )
    px = image_to_array(height, width, encoding, step, is_bigendian, data)
    if enc == "32fc1":
        return depth_m_to_mm(px)
    return px.astype(np.uint16, copy=False)


def decode_image_msg(msg: Any, kind: str) -> np.ndarray:
    """Decode a sensor_msgs/Image-like object; ``kind`` is "colour" or "depth"."""
    fields = (msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian), msg.data)
    if kind == "colour":
        return decode_colour(*fields)
    if kind == "depth":
        return decode_depth_mm(*fields)
    raise PrivposeInputError(f"kind must be 'colour' or 'depth', got '{kind}'")
