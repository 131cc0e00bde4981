"""image_transport's compressed / compressedDepth payloads: codec round trips against the ROS
plugins' layout (RVL byte-exact with the C++ RvlCodec), every bad payload a PrivposeInputError,
the launch arguments and replay flags (the node in a graph: test_ros_compressed_node.py)."""

from __future__ import annotations

import ast
import re
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.ros.compressed import (
    decode_compressed_depth,
    decode_compressed_rgb,
    encode_compressed_depth,
    encode_compressed_rgb,
    inverse_depth_params,
)
from privpose_ros.ros.rvl import rvl_decode, rvl_encode

cv2 = pytest.importorskip("cv2", reason="OpenCV not installed")
S = 1_000_000_000
ROOT = Path(__file__).resolve().parents[2]
# what the C++ RvlCodec (image_transport_plugins, compiled from source) writes for GOLDEN
GOLDEN = np.array([[0, 5, 0, 0], [6, 6, 0, 1], [65535, 1, 0, 3000]], np.uint16)
GOLDEN_RVL = bytes.fromhex("2022a111ffcf9113f3ffbff310dbed11")
# JPEG quality 95 on a synthetic 160x120 render, measured: mean |error| 0.93-1.47, p99 5-10
JPEG95_MEAN, JPEG95_P99 = 2.0, 12.0


def _rgb(width: int = 64, height: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], -1)
    rgb[height // 4 : height // 2, width // 3 : width // 2] = (200, 30, 40)
    return rgb.astype(np.uint8)


def _depth(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A smooth scene 1.5-2.8 m with 5 % dropped pixels and a hole, like a structured-light
    sensor."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    depth = 2000 + 500 * np.sin(xx / 50) + 300 * np.cos(yy / 40) + rng.normal(0, 5, yy.shape)
    depth[rng.random(yy.shape) < 0.05] = 0
    depth[height // 5 : height // 3, width // 6 : width // 2] = 0
    return depth.astype(np.uint16)


# ---- round trips -----------------------------------------------------------------------------
def test_rvl_is_byte_exact_with_the_cpp_codec_and_lossless() -> None:
    assert rvl_encode(GOLDEN) == GOLDEN_RVL
    np.testing.assert_array_equal(rvl_decode(GOLDEN_RVL, 4, 3), GOLDEN)
    rng = np.random.default_rng(3)
    for pixels in (
        np.zeros((5, 7), np.uint16),
        np.full((5, 7), 65535, np.uint16),
        rng.integers(0, 65536, (31, 17)).astype(np.uint16),  # deltas of every size
        _depth(64, 48),
    ):
        np.testing.assert_array_equal(rvl_decode(rvl_encode(pixels), *pixels.shape[::-1]), pixels)


@pytest.mark.parametrize("fmt", ["png", "rvl"])
def test_16uc1_compressed_depth_is_exact_with_the_plugin_layout(fmt: str) -> None:
    depth = _depth(64, 48)
    depth[0, :3] = (9999, 10000, 10001)  # the plugin drops readings beyond depth_max (10 m)
    form, data = encode_compressed_depth(depth, fmt)
    assert form == f"16UC1; compressedDepth {fmt}"
    assert struct.unpack_from("<iff", data) == (0, 0.0, 0.0)  # ConfigHeader: INV_DEPTH, no params
    if fmt == "rvl":
        assert struct.unpack_from("<II", data, 12) == (64, 48)
    else:
        assert data[12:20] == b"\x89PNG\r\n\x1a\n"
    out = decode_compressed_depth(form, data)
    expected = depth.copy()
    expected[0, 2] = 0
    assert out.dtype == np.uint16 and out.shape == (48, 64)
    np.testing.assert_array_equal(out, expected)
    # the legacy format without ';' is PNG (the plugin's rule)
    if fmt == "png":
        np.testing.assert_array_equal(decode_compressed_depth("16UC1", data), expected)


@pytest.mark.parametrize("fmt", ["png", "rvl"])
def test_32fc1_compressed_depth_is_within_the_inverse_depth_quantisation(fmt: str) -> None:
    depth = _depth(64, 48)
    form, data = encode_compressed_depth(depth, fmt, encoding="32FC1")
    assert form == f"32FC1; compressedDepth {fmt}"
    quant_a, quant_b = inverse_depth_params(10.0, 100.0)
    assert (quant_a, quant_b) == (10100.0, -1009.0)
    assert struct.unpack_from("<iff", data) == (0, quant_a, quant_b)
    out = decode_compressed_depth(form, data)
    valid = depth > 0
    np.testing.assert_array_equal(out > 0, valid)  # no reading stays no reading
    # v = floor(A / d + B): the decoded depth is at most d^2 / A further (+ 0.5 mm rounding)
    depth_m = depth[valid] / 1000.0
    error_mm = out[valid].astype(np.float64) - depth[valid]
    assert error_mm.min() >= -0.5
    assert np.all(error_mm <= depth_m**2 / quant_a * 1000.0 + 0.5)
    assert error_mm.max() <= 1.0  # below 2.8 m: at most 1 mm


def test_colour_round_trips_png_exact_jpeg_within_the_measured_tolerance() -> None:
    from privpose_ros.apps.replay import synthetic_frames

    rgb = _rgb()
    form, data = encode_compressed_rgb(rgb, "png")
    assert form == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(decode_compressed_rgb(form, data), rgb)
    np.testing.assert_array_equal(decode_compressed_rgb("png", data), rgb)  # legacy format
    # the payload is BGR, as the plugin writes it: OpenCV reads it back as the same picture
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), -1), rgb[..., ::-1])
    for frame in synthetic_frames(2, 0, 160, 120):
        form, data = encode_compressed_rgb(frame.rgb, "jpeg", 95)
        assert form == "rgb8; jpeg compressed bgr8" and data[:3] == b"\xff\xd8\xff"
        error = np.abs(decode_compressed_rgb(form, data).astype(np.int64) - frame.rgb)
        assert error.mean() < JPEG95_MEAN and np.percentile(error, 99) <= JPEG95_P99
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    ok, mono = cv2.imencode(".jpg", grey[..., 0], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = decode_compressed_rgb("mono8; jpeg compressed mono8", mono.tobytes())
    assert out.shape == grey.shape and np.abs(out.astype(int) - grey).mean() < JPEG95_MEAN
    # "compressed rgb8" (legacy publishers): the payload channels are already RGB
    ok, as_rgb = cv2.imencode(".png", rgb)
    np.testing.assert_array_equal(
        decode_compressed_rgb("rgb8; png compressed rgb8", as_rgb.tobytes()), rgb
    )
    ok, bgra = cv2.imencode(".png", np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 9, "u1")]))
    np.testing.assert_array_equal(
        decode_compressed_rgb("rgba8; png compressed bgra8", bgra.tobytes()), rgb
    )


def test_rvl_decodes_640x480_in_under_50_ms() -> None:
    depth = _depth()
    form, data = encode_compressed_depth(depth, "rvl")
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        out = decode_compressed_depth(form, data)
        timings.append(time.perf_counter() - started)
    np.testing.assert_array_equal(out, depth)
    assert min(timings) < 0.050, f"RVL 640x480 decode took {min(timings) * 1e3:.1f} ms"


# ---- bad input -------------------------------------------------------------------------------
def _bad_cases() -> list[tuple[str, str, bytes, str]]:
    """(kind, format, data, expected message) of payloads that must be refused clearly."""
    rgb = _rgb()
    jpeg = encode_compressed_rgb(rgb, "jpeg")[1]
    png = encode_compressed_rgb(rgb, "png")[1]
    corrupt = bytearray(jpeg)
    corrupt[2:300] = bytes(298)
    corrupt[2] = 0xFF
    ok, png16 = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint16))
    depth = _depth(32, 24)
    dpng = encode_compressed_depth(depth, "png")[1]
    drvl = encode_compressed_depth(depth, "rvl")[1]
    ok, png8 = cv2.imencode(".png", np.full((24, 32), 7, np.uint8))
    header = struct.pack("<iff", 0, 0.0, 0.0)
    rvl_head = drvl[:20]
    stream = drvl[20:]
    c, d = "rgb", "depth"
    j, p16, rv = (
        "rgb8; jpeg compressed bgr8",
        "16UC1; compressedDepth png",
        "16UC1; compressedDepth rvl",
    )
    return [
        (c, j, bytes(corrupt), "corrupt JPEG"),
        (c, j, jpeg[: len(jpeg) // 2], "no end marker"),
        (c, "rgb8; png compressed bgr8", png[: len(png) - 20], "no end marker"),
        (c, "rgb8; png compressed bgr8", jpeg, "format says png but the payload is a JPEG"),
        (c, j, png, "format says jpeg but the payload is a PNG"),
        (c, j, b"", "zero-length"),
        (c, "rgb8; webp compressed bgr8", jpeg, "unknown compressed format"),
        (c, j, b"hello, not an image at all", "not one"),
        (c, "mono8; jpeg compressed mono8", jpeg, "says mono8 but the payload has 3 channels"),
        (c, p16, dpng, "is a depth image"),
        (c, "rgb16; png compressed bgr16", png16.tobytes(), "decodes to uint16"),
        (c, "yuv422; jpeg compressed bgr8", jpeg, "'yuv422' is not supported"),
        (d, p16, b"", "zero-length"),
        (d, p16, dpng[:8], "too short for the 12-byte"),
        (d, p16, dpng[12:], "bare PNG"),
        (d, p16, struct.pack("<iff", 5, 0, 0) + dpng[12:], "expected 0"),
        (d, p16, drvl, "format says png but the payload is not one"),
        (d, rv, dpng, "corrupt size prefix"),
        (d, p16, header + png8.tobytes(), "says 16UC1 but the PNG holds 1-channel uint8"),
        (d, p16, dpng[:-30], "no end marker"),
        (d, rv, drvl[:-8], "truncated"),
        (d, rv, drvl[:-3], "not whole 32-bit words"),
        (d, rv, drvl[:12] + struct.pack("<II", 32, 30) + stream, "size in the RVL header"),
        (d, rv, drvl[:12] + struct.pack("<II", 32, 20) + stream, "wrong size in the RVL header"),
        (d, rv, drvl[:12] + struct.pack("<II", 0, 24) + stream, "corrupt size prefix"),
        (d, rv, header + b"\x20\x00", "no 8-byte width/height prefix"),
        (d, rv, rvl_head + b"\xff" * 64, "corrupt RVL stream: a variable-length value"),
        (d, rv, rvl_head + rvl_encode(np.zeros((1, 5000), np.uint16)), "do not add up"),
        (d, "16UC1; compressedDepth zstd", drvl, "unknown compressedDepth format"),
        (d, "rgb8; jpeg compressed bgr8", jpeg, "encoding 'rgb8'"),
        (d, "32FC1; compressedDepth rvl", drvl, "inverse-depth parameters"),
    ]


BAD = _bad_cases()


@pytest.mark.parametrize("kind, form, data, message", BAD, ids=[b[3] for b in BAD])
def test_every_bad_payload_is_a_clear_input_error(kind, form, data, message) -> None:
    decode = decode_compressed_rgb if kind == "rgb" else decode_compressed_depth
    with pytest.raises(PrivposeInputError, match=re.escape(message)):
        decode(form, data)


def test_random_damage_never_escapes_as_anything_but_an_input_error() -> None:
    rng = np.random.default_rng(7)
    payloads = [
        ("rgb", *encode_compressed_rgb(_rgb(), "jpeg")),
        ("rgb", *encode_compressed_rgb(_rgb(), "png")),
        ("depth", *encode_compressed_depth(_depth(32, 24), "png")),
        ("depth", *encode_compressed_depth(_depth(32, 24), "rvl")),
        ("depth", *encode_compressed_depth(_depth(32, 24), "rvl", encoding="32FC1")),
    ]
    refused = 0
    for i in range(400):
        kind, form, data = payloads[i % len(payloads)]
        damaged = bytearray(data)
        if i % 2:
            damaged = damaged[: int(rng.integers(0, len(damaged)))]
        else:
            for at in rng.integers(0, len(damaged), 4):
                damaged[at] = int(rng.integers(0, 256))
        decode = decode_compressed_rgb if kind == "rgb" else decode_compressed_depth
        try:
            out = decode(form, bytes(damaged))
        except PrivposeInputError as exc:
            refused += 1
            assert str(exc)
            continue
        assert out.dtype == (np.uint8 if kind == "rgb" else np.uint16)
    assert refused >= 200  # every truncation, most flips


# ---- the node, replay, launch ----------------------------------------------------------------
def test_launch_file_sets_the_transports() -> None:
    text = (ROOT / "launch" / "pose.launch.py").read_text()
    tree = ast.parse(text)
    names = {
        e.elts[0].value: e.elts[1].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ARGUMENTS"
        for e in n.value.elts
    }
    assert names["rgb_transport"] == "raw" and names["depth_transport"] == "raw"
    from privpose_ros.ros.launch_args import node_settings

    names.update(rgb_transport="compressed", depth_transport="compressedDepth")
    names["fastdds_profile"] = ""
    overrides = node_settings(names, str(ROOT))["parameters"][-1]
    assert (overrides["transport.rgb"], overrides["transport.depth"]) == (
        "compressed",
        "compressedDepth",
    )


def test_replay_cli_has_the_transport_flags() -> None:
    import argparse

    from privpose_ros.apps.replay_cmd import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.rgb_transport, args.rgb_format) == ("raw", "jpeg")
    assert (args.depth_transport, args.depth_format) == ("raw", "png")
    args = parser.parse_args(
        "--rgb-transport compressed --rgb-format png --depth-transport compressedDepth "
        "--depth-format rvl".split()
    )
    assert (args.rgb_transport, args.rgb_format) == ("compressed", "png")
    assert (args.depth_transport, args.depth_format) == ("compressedDepth", "rvl")
    with pytest.raises(SystemExit):
        parser.parse_args(["--depth-format", "jpeg"])
