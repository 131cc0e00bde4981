"""sensor_msgs/Image <-> numpy, honouring encoding, ``step`` (row padding) and endianness.

Pure functions over any object with the Image fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``), so they are testable without ROS. Colour comes out as
(H, W, 3) uint8 RGB; depth as (H, W) uint16 millimetres (REP 118: 16UC1 = mm, 32FC1 = m; 0 and
NaN mean "no reading").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import depth_m_to_mm

# encoding -> (channels, dtype of one channel)
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "8UC1": (1, np.dtype(np.uint8)),
    "8UC3": (3, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
    "16UC1": (1, np.dtype(np.uint16)),
    "32FC1": (1, np.dtype(np.float32)),
}
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


@dataclass(frozen=True)
class ImageFields:
    """The fields of a sensor_msgs/Image without ROS (what :func:`encode_image` returns)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def decode_image(msg: Any) -> np.ndarray:
    """The pixels of an Image as (H, W) or (H, W, C) in the encoding's dtype, native byte order.

    Raises PrivposeInputError for an unknown encoding or a ``data`` / ``step`` that does not hold
    ``height`` rows of ``width`` pixels.
    """
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise PrivposeInputError(
            f"unsupported image encoding '{encoding}'; publish one of {sorted(ENCODINGS)}"
        )
    channels, dtype = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if height <= 0 or width <= 0:
        raise PrivposeInputError(f"image is {width}x{height}; both sizes must be positive")
    if step < row_bytes:
        raise PrivposeInputError(
            f"{encoding} image step {step} is smaller than width * pixel size = {row_bytes}; "
            "set step to the number of bytes per row"
        )
    try:
        buffer = memoryview(msg.data).cast("B")  # bytes, array.array('B'): no copy
    except TypeError:  # a list of ints
        buffer = memoryview(bytes(msg.data))
    if buffer.nbytes != step * height:
        raise PrivposeInputError(
            f"{encoding} image of {width}x{height} with step {step} needs {step * height} bytes, "
            f"got {buffer.nbytes}; check height, step and data"
        )
    rows = np.frombuffer(buffer, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    order = ">" if msg.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order))
    pixels = pixels.astype(dtype.newbyteorder("="), copy=False)
    return (
        pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)
    )


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Decoded colour pixels in ``encoding`` to (H, W, 3) uint8 RGB."""
    if encoding not in COLOUR_ENCODINGS:
        raise PrivposeInputError(
            f"colour image has encoding '{encoding}'; publish one of {list(COLOUR_ENCODINGS)}"
        )
    if encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    return np.ascontiguousarray(pixels[..., :3])


def to_depth_mm(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Decoded depth pixels to (H, W) uint16 millimetres (16UC1/mono16 = mm, 32FC1 = m)."""
    if encoding in ("16UC1", "mono16"):
        return pixels
    if encoding == "32FC1":
        return depth_m_to_mm(pixels)
    raise PrivposeInputError(
        f"depth image has encoding '{encoding}'; publish 16UC1 (mm) or 32FC1 (m) per REP 118"
    )


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """A colour Image message to (H, W, 3) uint8 RGB."""
    return to_rgb8(decode_image(msg), str(msg.encoding))


def image_msg_to_depth_mm(msg: Any) -> np.ndarray:
    """A depth Image message to (H, W) uint16 millimetres, 0 = no reading."""
    return to_depth_mm(decode_image(msg), str(msg.encoding))


def encode_image(pixels: np.ndarray, encoding: str, big_endian: bool = False) -> ImageFields:
    """Pack (H, W) or (H, W, C) pixels in ``encoding`` into Image fields (tight rows)."""
    if encoding not in ENCODINGS:
        raise PrivposeInputError(f"unsupported encoding '{encoding}'; use one of {ENCODINGS}")
    channels, dtype = ENCODINGS[encoding]
    array = np.asarray(pixels)
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise PrivposeInputError(
            f"{encoding} needs an array of {channels} channel(s), got shape {array.shape}"
        )
    if array.dtype != dtype:
        raise PrivposeInputError(f"{encoding} needs dtype {dtype}, got {array.dtype}")
    packed = np.ascontiguousarray(array, dtype=dtype.newbyteorder(">" if big_endian else "<"))
    height, width = array.shape[:2]
    return ImageFields(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=width * channels * dtype.itemsize,
        data=packed.tobytes(),
    )
