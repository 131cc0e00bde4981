"""Pure pieces of the node: image codec, approximate-time sync, latest-frame slot, parameters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.image_codec import (
    encode_image,
    image_msg_to_depth_mm,
    image_msg_to_rgb,
)
from privpose_ros.ros.params import PARAMS, config_from_values, validate
from privpose_ros.ros.sync import ApproxTimeSync, LatestSlot


def _msg(pixels: np.ndarray, encoding: str, big_endian: bool = False, pad: int = 0):
    f = encode_image(pixels, encoding, big_endian)
    rows = np.frombuffer(f.data, np.uint8).reshape(f.height, f.step)
    padded = np.concatenate([rows, np.full((f.height, pad), 7, np.uint8)], axis=1)
    return SimpleNamespace(
        height=f.height,
        width=f.width,
        encoding=encoding,
        is_bigendian=f.is_bigendian,
        step=f.step + pad,
        data=padded.tobytes(),
    )


RGB = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 3 % 256).astype(np.uint8)


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_the_same_rgb(pad: int) -> None:
    bgr = RGB[..., ::-1]
    alpha = np.full((5, 7, 1), 200, np.uint8)
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(RGB, "rgb8", pad=pad)), RGB)
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(bgr, "bgr8", pad=pad)), RGB)
    rgba = np.concatenate([RGB, alpha], axis=2)
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(rgba, "rgba8", pad=pad)), RGB)
    bgra = np.concatenate([bgr, alpha], axis=2)
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(bgra, "bgra8", pad=pad)), RGB)
    mono = image_msg_to_rgb(_msg(RGB[..., 0], "mono8", pad=pad))
    np.testing.assert_array_equal(mono, np.repeat(RGB[..., :1], 3, axis=2))


@pytest.mark.parametrize("big_endian", [False, True])
def test_depth_16uc1_mm_and_32fc1_m_with_padding_and_endianness(big_endian: bool) -> None:
    depth_mm = np.array([[0, 1, 1500], [65535, 2500, 812]], np.uint16)
    got = image_msg_to_depth_mm(_msg(depth_mm, "16UC1", big_endian, pad=2))
    np.testing.assert_array_equal(got, depth_mm)
    depth_m = np.array([[np.nan, 0.0012, 1.5], [-1.0, 2.5, 0.8124]], np.float32)
    got = image_msg_to_depth_mm(_msg(depth_m, "32FC1", big_endian, pad=4))
    np.testing.assert_array_equal(got, [[0, 1, 1500], [0, 2500, 812]])


def test_bad_images_are_rejected_with_a_reason() -> None:
    good = _msg(RGB, "rgb8")
    with pytest.raises(PrivposeInputError, match="unsupported image encoding 'yuv422'"):
        image_msg_to_rgb(SimpleNamespace(**{**vars(good), "encoding": "yuv422"}))
    with pytest.raises(PrivposeInputError, match="needs 105 bytes, got 104"):
        image_msg_to_rgb(SimpleNamespace(**{**vars(good), "data": good.data[:-1]}))
    with pytest.raises(PrivposeInputError, match="step 20 is smaller"):
        image_msg_to_rgb(SimpleNamespace(**{**vars(good), "step": 20}))
    with pytest.raises(PrivposeInputError, match="publish 16UC1"):
        image_msg_to_depth_mm(good)
    with pytest.raises(PrivposeInputError, match="colour image has encoding '16UC1'"):
        image_msg_to_rgb(_msg(np.zeros((2, 2), np.uint16), "16UC1"))


def test_approx_sync_matches_like_message_filters() -> None:
    fired = []
    sync = ApproxTimeSync(
        2, queue_size=3, slop_s=0.010, callback=lambda a, b: fired.append((a, b))
    )
    sync.add(0, 1_000_000_000, "rgb@1.000")
    sync.add(1, 1_020_000_000, "info@1.020")  # 20 ms apart: over the slop
    assert fired == []
    sync.add(1, 1_004_000_000, "info@1.004")  # 4 ms: matches the queued colour image
    assert fired == [("rgb@1.000", "info@1.004")]
    sync.add(0, 1_021_000_000, "rgb@1.021")  # matches the earlier unmatched info
    assert fired[-1] == ("rgb@1.021", "info@1.020")
    assert sync.queues == [{}, {}]
    for i in range(5):  # the queue keeps only the newest queue_size messages
        sync.add(0, 2_000_000_000 + i * 100_000_000, i)
    assert sorted(sync.queues[0]) == [2_200_000_000, 2_300_000_000, 2_400_000_000]


def test_approx_sync_picks_the_closest_of_three() -> None:
    fired = []
    sync = ApproxTimeSync(3, queue_size=5, slop_s=0.015, callback=lambda *m: fired.append(m))
    sync.add(1, 100, "info")
    sync.add(2, 12_000_100, "depth_far")
    sync.add(2, 3_000_100, "depth_near")
    sync.add(0, 0, "rgb")
    assert fired == [("rgb", "info", "depth_near")]
    assert list(sync.queues[2]) == [12_000_100]


def test_latest_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot = LatestSlot()
    assert slot.take(timeout_s=0.0) is None
    for i in range(4):
        slot.put(i)
    assert slot.take(timeout_s=0.0) == 3
    assert slot.dropped == 3
    assert slot.take(timeout_s=0.0) is None


def test_parameters_validate_with_reasons() -> None:
    config = config_from_values({"skeleton.joint_set": "itop15", "sync.slop_s": 1})
    assert config.sync.slop_s == 1.0 and config.joint_set.num_joints == 15
    assert config.output_joint_names[:2] == ("Head", "Neck")
    assert config.refine.any_enabled
    sub = config_from_values({"skeleton.joint_names": ["neck", "pelvis"]})
    assert sub.output_indices == (2, 0)
    assert "one of" in validate("backend", "cuda")
    assert ">= 1" in validate("sync.queue_size", 0)
    assert "must be bool" in validate("tf.enabled", "yes")
    assert validate("tf.rate_hz", 30) is None
    with pytest.raises(PrivposeInputError, match="joint 'nose' is not in itop15"):
        config_from_values({"skeleton.joint_set": "itop15", "skeleton.joint_names": ["nose"]})
    with pytest.raises(PrivposeInputError, match="unknown parameters"):
        config_from_values({"bogus": 1})
    assert len({p.name for p in PARAMS}) == len(PARAMS)
