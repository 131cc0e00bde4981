"""sensor_msgs/CompressedImage payloads as image_transport's plugins write them, without ROS.

Python has no image_transport, so the node decodes these itself (OpenCV for JPEG / PNG):

- ``compressed`` (compressed_image_transport): ``format`` is ``"<encoding>; <jpeg|png> compressed
  <payload encoding>"``, e.g. ``"rgb8; jpeg compressed bgr8"``, ``"mono8; jpeg compressed mono8"``,
  ``"rgba8; png compressed bgra8"``; older publishers write only ``"jpeg"`` / ``"png"``. The
  payload is a JPEG / PNG file whose channels are BGR(A) when the format says ``compressed bgr``.
- ``compressedDepth`` (compressed_depth_image_transport): ``format`` is ``"<16UC1|32FC1>;
  compressedDepth <png|rvl>"``. The payload is a 12-byte ConfigHeader (int32 compression format,
  0 = INV_DEPTH; float32 depthParam[2], little-endian) followed by a 16-bit PNG or by an RVL
  stream (uint32 cols, uint32 rows, then Wilson's run-length / variable-length code in 32-bit
  words). 16UC1 stores millimetres as they are; 32FC1 stores quantised inverse depth ``v`` with
  ``depth_m = depthParam[0] / (v - depthParam[1])`` and ``v = 0`` for no reading.

Everything malformed raises PrivposeInputError saying what is wrong and what to check.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError, optional_import
from privpose_ros.core.geometry import depth_m_to_mm
from privpose_ros.ros.rvl import rvl_decode, rvl_encode

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"
HEADER = struct.Struct("<iff")  # ConfigHeader: compressionFormat, depthParam[0], depthParam[1]
INV_DEPTH = 0
MONO_ENCODINGS = ("mono8", "8UC1")
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "rgb16", "bgr16", "rgba16", "bgra16")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
MAX_PIXELS = 1 << 26  # 64 Mpx: an RVL size beyond this is a corrupt header, not a camera
# compressed_depth_image_transport's defaults (depth_max 10 m, depth_quantization 100, level 9)
DEPTH_MAX_M, DEPTH_QUANTIZATION, DEPTH_PNG_LEVEL = 10.0, 100.0, 9


def _cv2() -> Any:
    try:
        return optional_import("cv2", "install OpenCV: apt install python3-opencv (or pip)")
    except MissingDependencyError as exc:
        raise PrivposeInputError(f"cannot decode compressed images: {exc}") from exc


def _as_bytes(data: Any) -> bytes:
    try:
        return bytes(memoryview(data).cast("B"))
    except TypeError:  # a list of ints
        try:
            return bytes(data)
        except (TypeError, ValueError) as exc:
            raise PrivposeInputError(f"payload is not bytes ({type(data).__name__})") from exc


def _codec_of(payload: bytes) -> str:
    if payload.startswith(JPEG_MAGIC):
        return "jpeg"
    if payload.startswith(PNG_MAGIC):
        return "png"
    if payload.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return "unknown"


def _imdecode(payload: bytes, codec: str, what: str) -> np.ndarray:
    """cv2.imdecode(IMREAD_UNCHANGED) of a JPEG / PNG file that must be complete."""
    actual = _codec_of(payload)
    if actual != codec:
        start = payload[:8].hex(" ")
        raise PrivposeInputError(
            f"{what}: format says {codec} but the payload is "
            + (f"a {actual.upper()} file" if actual != "unknown" else f"not one (starts {start})")
            + "; check the publisher's format parameter"
        )
    tail = payload[-32:]
    if (codec == "jpeg" and b"\xff\xd9" not in tail) or (codec == "png" and PNG_END not in tail):
        raise PrivposeInputError(
            f"{what}: {codec.upper()} payload of {len(payload)} bytes has no end marker "
            "(truncated in transit?); check the transport / message size limits"
        )
    cv2 = _cv2()
    try:
        image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise PrivposeInputError(f"{what}: OpenCV could not decode the {codec}: {exc}") from exc
    if image is None or image.size == 0:
        raise PrivposeInputError(
            f"{what}: corrupt {codec.upper()} payload ({len(payload)} bytes): OpenCV decoded "
            "nothing; check the camera driver's compressed stream"
        )
    return image


def _split(fmt: str) -> tuple[str, str]:
    """``"rgb8; jpeg compressed bgr8"`` -> (``"rgb8"``, ``"jpeg compressed bgr8"``)."""
    head, sep, tail = str(fmt).partition(";")
    return (head.strip(), tail.strip()) if sep else ("", head.strip())


def decode_compressed_rgb(format: str, data: bytes) -> np.ndarray:  # noqa: A002 - message field
    """A ``compressed`` CompressedImage (``format``, ``data``) to (H, W, 3) uint8 RGB."""
    encoding, compression = _split(format)
    words = compression.lower().split()
    if "compresseddepth" in words or encoding in DEPTH_ENCODINGS:
        raise PrivposeInputError(
            f"format '{format}' is a depth image; subscribe to it as compressedDepth on the depth "
            "topic, not on the colour topic"
        )
    if encoding and encoding not in MONO_ENCODINGS + COLOUR_ENCODINGS:
        raise PrivposeInputError(
            f"format '{format}': colour encoding '{encoding}' is not supported; publish one of "
            f"{list(MONO_ENCODINGS + COLOUR_ENCODINGS)}"
        )
    codec = next((w for w in words if w in ("jpeg", "jpg", "png")), None)
    if codec is None:
        raise PrivposeInputError(
            f"unknown compressed format '{format}'; expected e.g. 'rgb8; jpeg compressed bgr8' "
            "or 'png' (set the publisher's format parameter to jpeg or png)"
        )
    codec = "jpeg" if codec == "jpg" else codec
    payload = _as_bytes(data)
    if not payload:
        raise PrivposeInputError(f"compressed colour image ({format}) has a zero-length payload")
    image = _imdecode(payload, codec, f"colour image '{format}'")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != np.uint8:
        raise PrivposeInputError(
            f"format '{format}' decodes to {image.dtype} pixels; publish 8-bit colour (rgb8/bgr8)"
        )
    if encoding in MONO_ENCODINGS and channels != 1:
        raise PrivposeInputError(
            f"format '{format}' says {encoding} but the payload has {channels} channels"
        )
    if encoding and encoding not in MONO_ENCODINGS and channels not in (3, 4):
        raise PrivposeInputError(
            f"format '{format}' says colour ({encoding}) but the payload has {channels} channel(s)"
        )
    if channels == 1:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if channels not in (3, 4):
        raise PrivposeInputError(f"format '{format}': payload has {channels} channels")
    # OpenCV keeps the channel order it was given: BGR(A) when the publisher said so
    payload_rgb = "compressed rgb" in compression.lower()
    return np.ascontiguousarray(image[..., :3] if payload_rgb else image[..., 2::-1])


def encode_compressed_rgb(
    rgb: np.ndarray, fmt: str = "jpeg", quality: int | None = None
) -> tuple[str, bytes]:
    """(H, W, 3) uint8 RGB -> (format, data) as compressed_image_transport publishes an rgb8
    image: ``"rgb8; jpeg compressed bgr8"`` (``quality`` 1-100, default 95) or ``"rgb8; png
    compressed bgr8"`` (``quality`` = PNG level 0-9, default 3)."""
    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or array.size == 0:
        raise PrivposeInputError(
            f"rgb must be a non-empty (H, W, 3) uint8 array, got {array.shape} {array.dtype}"
        )
    cv2 = _cv2()
    if fmt == "jpeg":
        level = 95 if quality is None else int(quality)
        ext, params, lo, hi = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, level], 1, 100
    elif fmt == "png":
        level = 3 if quality is None else int(quality)
        ext, params, lo, hi = ".png", [cv2.IMWRITE_PNG_COMPRESSION, level], 0, 9
    else:
        raise PrivposeInputError(f"compressed format must be jpeg or png, got {fmt!r}")
    if not lo <= level <= hi:
        raise PrivposeInputError(f"{fmt} quality must be in [{lo}, {hi}], got {level}")
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(array[..., ::-1]), params)
    if not ok:
        raise PrivposeInputError(f"OpenCV could not encode the image as {fmt}")
    return f"rgb8; {fmt} compressed bgr8", buffer.tobytes()


# ---- compressedDepth -------------------------------------------------------------------------
def _depth_format(fmt: str) -> tuple[str, str]:
    encoding, compression = _split(fmt)
    if not encoding:  # no ';': the whole string is the encoding, PNG (the plugin's rule)
        encoding, compression = compression, "compressedDepth png"
    words = compression.split()
    if encoding not in DEPTH_ENCODINGS:
        raise PrivposeInputError(
            f"compressedDepth format '{fmt}' has encoding '{encoding}'; depth must be 16UC1 (mm) "
            "or 32FC1 (m); a colour image belongs on the colour topic as `compressed`"
        )
    if words[:1] != ["compressedDepth"] or words[1:] not in ([], ["png"], ["rvl"]):
        raise PrivposeInputError(
            f"unknown compressedDepth format '{fmt}'; expected '16UC1; compressedDepth png' or "
            "'...; compressedDepth rvl'"
        )
    return encoding, words[1] if len(words) > 1 else "png"


def decode_compressed_depth(format: str, data: bytes) -> np.ndarray:  # noqa: A002
    """A ``compressedDepth`` CompressedImage (``format``, ``data``) to (H, W) uint16 mm."""
    encoding, codec = _depth_format(format)
    payload = _as_bytes(data)
    what = f"depth image '{format}'"
    if len(payload) <= HEADER.size:
        hint = " (zero-length)" if not payload else ""
        raise PrivposeInputError(
            f"{what}: payload of {len(payload)} bytes{hint} is too short for the "
            f"{HEADER.size}-byte compressedDepth header plus an image"
        )
    kind, quant_a, quant_b = HEADER.unpack_from(payload)
    if kind != INV_DEPTH:
        found = _codec_of(payload)
        hint = f": the payload is a bare {found.upper()}" if found != "unknown" else ""
        raise PrivposeInputError(
            f"{what}: compressedDepth header has compression format {kind}, expected "
            f"{INV_DEPTH} (INV_DEPTH){hint}; was it published by compressedDepth?"
        )
    body = payload[HEADER.size :]
    if codec == "png":
        pixels = _imdecode(body, "png", what)
        if pixels.ndim != 2 or pixels.dtype != np.uint16:
            channels = 1 if pixels.ndim == 2 else pixels.shape[2]
            raise PrivposeInputError(
                f"{what}: format says {encoding} but the PNG holds {channels}-channel "
                f"{pixels.dtype} pixels; compressedDepth PNGs are 16-bit single-channel"
            )
    else:
        if len(body) < 8:
            raise PrivposeInputError(f"{what}: RVL payload has no 8-byte width/height prefix")
        width, height = struct.unpack_from("<II", body)
        if width == 0 or height == 0 or width * height > MAX_PIXELS:
            raise PrivposeInputError(
                f"{what}: RVL header says {width}x{height} pixels; corrupt size prefix"
            )
        pixels = rvl_decode(body[8:], width, height)
    if encoding != "32FC1":
        return pixels
    if not (np.isfinite(quant_a) and np.isfinite(quant_b) and quant_a > 0 and quant_b < 1):
        raise PrivposeInputError(
            f"{what}: inverse-depth parameters A={quant_a}, B={quant_b} are invalid (need A > 0, "
            "B < 1); the header is corrupt or the image is not 32FC1"
        )
    valid = pixels != 0
    depth_m = np.full(pixels.shape, np.nan, np.float32)
    depth_m[valid] = np.float32(quant_a) / (pixels[valid].astype(np.float32) - np.float32(quant_b))
    return depth_m_to_mm(depth_m)


def inverse_depth_params(depth_max_m: float, quantization: float) -> tuple[float, float]:
    """(depthQuantA, depthQuantB) of the 32FC1 inverse-depth code, in float32 as the plugin."""
    quant_a = np.float32(quantization) * (np.float32(quantization) + np.float32(1.0))
    quant_b = np.float32(1.0) - quant_a / np.float32(depth_max_m)
    return float(quant_a), float(quant_b)


def encode_compressed_depth(
    depth_mm: np.ndarray,
    fmt: str = "png",
    encoding: str = "16UC1",
    depth_max_m: float = DEPTH_MAX_M,
    quantization: float = DEPTH_QUANTIZATION,
    png_level: int = DEPTH_PNG_LEVEL,
) -> tuple[str, bytes]:
    """(H, W) uint16 mm (0 = none) -> (format, data) as compressed_depth_image_transport
    publishes a ``encoding`` (16UC1 or 32FC1 metres) image: readings beyond ``depth_max_m`` become
    0; for 32FC1 the quantised inverse depth (nearer than A / (65535 - B) m: sent as 0)."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.dtype != np.uint16 or depth.size == 0:
        raise PrivposeInputError(
            f"depth_mm must be a non-empty (H, W) uint16 array, got {depth.shape} {depth.dtype}"
        )
    if fmt not in ("png", "rvl") or encoding not in ("16UC1", "32FC1"):
        raise PrivposeInputError(
            f"compressedDepth needs fmt png|rvl and encoding 16UC1|32FC1, got {fmt}, {encoding}"
        )
    header = HEADER.pack(INV_DEPTH, 0.0, 0.0)
    if encoding == "16UC1":
        limit = min(int(np.float32(depth_max_m) * np.float32(1000.0)), 0xFFFF)
        pixels = np.where(depth > limit, 0, depth).astype(np.uint16)
    else:
        quant_a, quant_b = inverse_depth_params(depth_max_m, quantization)
        depth_m = depth.astype(np.float32) / np.float32(1000.0)
        keep = (depth > 0) & (depth_m < np.float32(depth_max_m))
        inverse = np.zeros(depth.shape, np.float64)
        with np.errstate(divide="ignore"):
            inverse[keep] = np.float32(quant_a) / depth_m[keep] + np.float32(quant_b)
        pixels = np.where(keep & (inverse < 65536), np.floor(inverse), 0).astype(np.uint16)
        header = HEADER.pack(INV_DEPTH, quant_a, quant_b)
    if fmt == "png":
        cv2 = _cv2()
        ok, buffer = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
        if not ok:
            raise PrivposeInputError("OpenCV could not encode the depth image as PNG")
        body = buffer.tobytes()
    else:
        height, width = pixels.shape
        body = struct.pack("<II", width, height) + rvl_encode(pixels)
    return f"{encoding}; compressedDepth {fmt}", header + body
