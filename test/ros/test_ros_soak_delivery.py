"""Big frames over DDS: the shipped Fast DDS profile, its launch argument, the two-process
delivery count and the soak report of the real node (counting and report shape, no timing)."""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import setuptools
from launch_api_stub import stub_launch_api

from privpose_ros.apps import bench_cmd, delivery, soak
from privpose_ros.apps.graph_harness import PoseOutput

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "fastdds_shm.xml"
LAUNCH = ROOT / "launch" / "pose.launch.py"
NS = {"d": "http://www.eprosima.com"}


def test_profile_has_a_big_shm_segment_udp_and_no_builtin_transports() -> None:
    root = ET.parse(PROFILE).getroot()
    transports = {
        t.findtext("d:transport_id", namespaces=NS): t
        for t in root.iterfind(".//d:transport_descriptor", NS)
    }
    kinds = {t.findtext("d:type", namespaces=NS): t for t in transports.values()}
    assert set(kinds) == {"SHM", "UDPv4"}
    # 1080p RGB-D: 6.2 MB rgb8 + 4.1 MB 16UC1 per set, several in flight
    assert int(kinds["SHM"].findtext("d:segment_size", namespaces=NS)) >= 32 * 2**20
    participant = root.find(".//d:participant", NS)
    assert participant.get("is_default_profile") == "true"
    used = [e.text for e in participant.iterfind(".//d:userTransports/d:transport_id", NS)]
    assert sorted(used) == sorted(transports)
    assert participant.findtext(".//d:useBuiltinTransports", namespaces=NS) == "false"
    assert delivery.shm_profile_path() == PROFILE


SEGMENT_PROBE = """
import os, rclpy
rclpy.init()
node = rclpy.create_node("privpose_profile_probe")
maps = {line.split()[-1] for line in open("/proc/self/maps") if "/dev/shm/fastdds_" in line}
print(max(os.path.getsize(m) for m in maps if os.path.exists(m)))
node.destroy_node()
rclpy.shutdown()
"""


@pytest.mark.parametrize("profile", [True, False])
def test_fast_dds_loads_the_profile_and_maps_its_segment(profile: bool) -> None:
    env = dict(os.environ, ROS_DOMAIN_ID="231")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if profile:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    probe = [sys.executable, "-c", SEGMENT_PROBE]
    proc = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "XMLPARSER" not in proc.stderr, proc.stderr[-2000:]
    largest = int(proc.stdout.split()[-1])  # bytes of the largest Fast DDS segment mapped
    assert (largest >= 64 * 2**20) is profile  # the default segment is 512 KiB


def test_setup_installs_the_profile_with_the_config_files(monkeypatch) -> None:
    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    files = dict(captured["data_files"])
    assert "config/fastdds_shm.xml" in files["share/privpose/config"]
    assert "config/privpose.yaml" in files["share/privpose/config"]


def test_launch_declares_fastdds_profile_and_sets_the_node_environment(monkeypatch) -> None:
    from privpose_ros.ros.launch_args import node_settings

    stub_launch_api(monkeypatch)
    module = runpy.run_path(str(LAUNCH))
    defaults = {name: default for name, default, _ in module["ARGUMENTS"]}
    assert (ROOT / defaults["fastdds_profile"]) == PROFILE  # relative to the package share
    description = module["generate_launch_description"]()
    declared = {
        a.args[0]: a.kwargs["default_value"] for a in description.args[0] if a.args and a.kwargs
    }
    assert declared["fastdds_profile"] == str(PROFILE)  # the installed file, absolute
    values = {**defaults, "fastdds_profile": declared["fastdds_profile"]}
    env = node_settings(values, str(ROOT))["additional_env"]
    assert env == {"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}
    none = node_settings({**values, "fastdds_profile": "none"}, str(ROOT))
    assert none["additional_env"] is None  # the node keeps the environment's own setting
    with pytest.raises(ValueError, match="not a file"):
        node_settings({**values, "fastdds_profile": str(ROOT / "missing.xml")}, str(ROOT))


def test_set_counter_counts_only_complete_sets() -> None:
    counter = delivery.SetCounter()
    for kind in ("rgb", "depth", "info"):
        counter.add(kind, 1_000_000, 4_000_000)
    counter.add("rgb", 2_000_000, 3_000_000)  # depth and info of this stamp never came
    counter.add("info", 1_000_000, 9_000_000)  # a duplicate does not move the latency
    assert counter.latency_ms == {1_000_000: 3.0}
    figures = delivery.summarize([1_000_000, 2_000_000], counter.latency_ms)
    assert figures["frames_out"] == 2 and figures["frames_in"] == 1
    assert figures["delivered_fraction"] == 0.5 and figures["latency_ms_p50"] == 3.0


def test_two_process_delivery_with_the_profile_delivers_every_set() -> None:
    figures = delivery.run_mode("raw_shm", 20, 30.0, 640, 480, qos="reliable")
    assert figures["frames_out"] == 20
    assert figures["frames_in"] == 20
    assert figures["bytes_per_set"] == 640 * 480 * 5
    assert all(n >= 20 for n in figures["messages_received"].values())


def test_soak_windows_and_stability_summary() -> None:
    joints = np.zeros((26, 3))
    outputs = {10: PoseOutput(2_000_010, joints, "cam"), 20: PoseOutput(4_000_020, joints, "cam")}
    window = soak.window_figures([10, 20, 30], outputs, 2.0)
    assert window["frames_in"] == 3 and window["frames_out"] == 2
    assert window["output_rate_hz"] == 1.0 and window["latency_ms_p50"] == 3.0
    first = {**window, "latency_ms_p95": 10.0, "rss_mib": 100.0}
    last = {**window, "latency_ms_p95": 16.0, "rss_mib": 103.0}
    summary = soak.summarize([first, last])
    assert summary["rss_growth_pct"] == 3.0 and summary["p95_stable"] is False
    assert soak.summarize([first, {**last, "latency_ms_p95": 15.0}])["p95_stable"] is True


SOAK_KEYS = {
    "frames", "rate_hz", "sample_every", "duration_s", "frames_in", "frames_out",
    "output_rate_hz", "latency_ms_p50", "latency_ms_p95", "rss_mib_start", "rss_mib_end",
    "rss_samples_mib", "windows", "first_window", "last_window", "rss_growth_pct", "p95_stable",
    "p95_ratio_last_to_first", "resolution", "profile",
}  # fmt: skip
WINDOW_KEYS = {
    "index", "frames_in", "frames_out", "output_rate_hz", "latency_ms_p50", "latency_ms_p95",
    "rss_mib",
}  # fmt: skip


def test_short_soak_of_the_real_node_reports_windows_and_memory(tmp_path) -> None:
    report = soak.run_soak(60, rate_hz=30.0, sample_every=20, distinct=4, log_dir=tmp_path)
    assert SOAK_KEYS <= set(report)
    assert report["frames"] == 60 and report["frames_in"] == 60
    assert 0 < report["frames_out"] <= 60
    assert len(report["windows"]) == 3
    assert all(WINDOW_KEYS <= set(w) for w in report["windows"])
    assert [w["frames_in"] for w in report["windows"]] == [20, 20, 20]
    assert len(report["rss_samples_mib"]) == 3 and min(report["rss_samples_mib"]) > 0
    assert report["rss_mib_start"] > 0 and report["last_window"]["index"] == 2
    assert report["profile"] == str(PROFILE)
    # the summary is made of the windows: outputs, memory samples, first and last, growth
    windows = report["windows"]
    assert sum(w["frames_out"] for w in windows) == report["frames_out"]
    assert report["rss_samples_mib"] == [w["rss_mib"] for w in windows]
    assert (report["first_window"], report["last_window"]) == (windows[0], windows[-1])
    first, last = windows[0]["rss_mib"], windows[-1]["rss_mib"]
    assert report["rss_growth_pct"] == pytest.approx(100 * (last - first) / first, abs=0.006)


def test_bench_refuses_mixed_or_negative_ros_modes() -> None:
    parser = argparse.ArgumentParser()
    bench_cmd.add_arguments(parser)
    with pytest.raises(ValueError, match="pick one"):
        bench_cmd.run(parser.parse_args(["--delivery", "--soak", "10"]))
    with pytest.raises(ValueError, match=">= 1"):
        bench_cmd.run(parser.parse_args(["--soak", "-5"]))
