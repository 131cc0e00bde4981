"""One ROS graph around the real node: the harness of `privpose demo`, the soak and the e2e test.

``pose_node`` runs in its own process, as users run it (``python -m privpose_ros.ros.node
--ros-args -p name:=value ...``), in a private ROS domain; this process replays frames as a
camera (:class:`~privpose_ros.apps.replay.CameraReplayer`: stamped at publish = capture time)
and records what the node answers: every /human_pose with its arrival time (so the latency is
capture stamp -> receipt), optionally the markers and /tf, and the node's last /diagnostics.

    with GraphHarness(parameters, log_path) as graph:   # node up, its topics matched
        graph.warm_up(frames[0], rate_hz)                # models loaded, first outputs seen
        sent = {stamp: index for index, stamp in graph.stream(frames, count, rate_hz)}
        graph.settle(sent, timeout_s=2.0)
    graph.returncode, graph.recorder.outputs, graph.recorder.diagnostics, graph.node_log()
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.core.frame import RGBDFrame

DIAGNOSTICS_ID = "privpose"  # the node's DiagnosticStatus.hardware_id


def node_command(parameters: Mapping[str, Any]) -> list[str]:
    """The command line of ``pose_node`` with ``parameters`` (bools as true/false)."""
    command = [sys.executable, "-m", "privpose_ros.ros.node", "--ros-args"]
    for name, value in parameters.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        command += ["-p", f"{name}:={text}"]
    return command


def percentile_ms(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile of ``values`` (ms) rounded to 0.01 ms; None when empty."""
    return round(float(np.percentile(values, q)), 2) if len(values) else None


@dataclass(frozen=True)
class PoseOutput:
    """One /human_pose: arrival (ns, wall clock), joints (N, 3) in metres, the header frame."""

    arrival_ns: int
    joints_m: np.ndarray
    frame_id: str


def latencies_ms(stamps: Sequence[int], outputs: Mapping[int, PoseOutput]) -> list[float]:
    """Capture stamp -> receipt (ms) of every stamp in ``stamps`` that was answered, in order."""
    return [(outputs[s].arrival_ns - s) / 1e6 for s in stamps if s in outputs]


class Recorder:
    """Keeps every /human_pose by its stamp (ns), the node's last privpose diagnostics and, when
    asked, every MarkerArray (by its first marker's stamp) and every /tf message."""

    def __init__(self, node: Any, markers: bool = False, tf: bool = False) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.outputs: dict[int, PoseOutput] = {}
        self.diagnostics: dict[str, str] = {}
        self.markers: dict[int, Any] = {}
        self.tf: list[Any] = []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.sub = node.create_subscription(PoseArray, "human_pose", self._on_pose, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        if markers:
            from visualization_msgs.msg import MarkerArray

            node.create_subscription(MarkerArray, "human_pose/markers", self._on_markers, qos)
        if tf:
            from tf2_msgs.msg import TFMessage

            node.create_subscription(TFMessage, "/tf", self.tf.append, qos)

    def _on_pose(self, msg: Any) -> None:
        from privpose_ros.ros.pose_msgs import stamp_ns_of

        arrival = time.time_ns()
        joints = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
        output = PoseOutput(arrival, joints.reshape(-1, 3), msg.header.frame_id)
        self.outputs[stamp_ns_of(msg.header.stamp)] = output

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id == DIAGNOSTICS_ID:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def _on_markers(self, msg: Any) -> None:
        from privpose_ros.ros.pose_msgs import stamp_ns_of

        if msg.markers:
            self.markers[stamp_ns_of(msg.markers[0].header.stamp)] = msg

    def answered(self, stamps: Collection[int]) -> int:
        return sum(s in self.outputs for s in stamps)


class GraphHarness:
    """``pose_node`` (own process, ``parameters``, output in ``log_path``) and this process's
    camera replayer + recorder, in ROS domain ``domain_id`` (default: a random one in 101-200).

    ``fastdds_profile``: a Fast DDS profile file both processes use (FASTDDS_DEFAULT_PROFILES_FILE
    while the harness runs, restored after); None keeps the environment's own setting.
    Entering starts the node and waits (``startup_timeout_s``) until its topics match; leaving
    stops it with SIGINT (killed after 15 s) and leaves ``returncode`` set.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any],
        log_path: str | Path,
        *,
        name: str = "privpose_harness",
        domain_id: int | None = None,
        fastdds_profile: str | Path | None = None,
        startup_timeout_s: float = 180.0,
        markers: bool = False,
        tf: bool = False,
    ) -> None:
        if startup_timeout_s <= 0:
            raise ValueError(f"startup_timeout_s must be > 0, got {startup_timeout_s}")
        self.command = node_command(parameters)
        self.log_path = Path(log_path)
        self.name = name
        self.domain_id = (
            random.SystemRandom().randint(101, 200) if domain_id is None else domain_id
        )
        self.fastdds_profile = None if fastdds_profile is None else str(fastdds_profile)
        self.startup_timeout_s = startup_timeout_s
        self._record = {"markers": markers, "tf": tf}
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._ros: tuple[Any, Any, Any] | None = None  # context, node, spinner
        self._previous_profile: str | None = None

    # life -------------------------------------------------------------------------------------
    def __enter__(self) -> GraphHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the node process and this process's node; wait until the topics match."""
        import rclpy

        from privpose_ros.apps.replay import CameraReplayer
        from privpose_ros.ros.spinning import BackgroundSpinner

        if self.fastdds_profile is not None:  # before rclpy.init: the participant reads it
            self._previous_profile = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")
            os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = self.fastdds_profile
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain_id))
        env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log_file:
            self.proc = subprocess.Popen(
                self.command, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=self.domain_id)
        node = rclpy.create_node(self.name, context=context)
        self.replayer = CameraReplayer(node)
        self.recorder = Recorder(node, **self._record)
        self._ros = (context, node, BackgroundSpinner(node, context))
        try:
            self.wait_for(self._matched, self.startup_timeout_s, "the node's topics")
        except BaseException:
            self.stop()
            raise

    def _matched(self) -> bool:
        sub = self.recorder.sub
        count = getattr(sub, "get_publisher_count", None)  # rclpy >= 4 (Iron); not in Humble
        publishers = count() if count else self.replayer.node.count_publishers(sub.topic_name)
        return self.replayer.subscribers() > 0 and publishers > 0

    def stop(self) -> int | None:
        """SIGINT the node (kill after 15 s), close this process's node; the node's exit code."""
        import rclpy

        from privpose_ros.ros.spinning import stop_process

        if self.proc is not None and self.returncode is None:
            stop_process(self.proc)
            self.returncode = self.proc.returncode
        if self._ros is not None:
            context, node, spinner = self._ros
            self._ros = None
            spinner.close()
            node.destroy_node()
            rclpy.shutdown(context=context)
        if self.fastdds_profile is not None:
            if self._previous_profile is None:
                os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
            else:
                os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = self._previous_profile
        return self.returncode

    # the node process -------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the harness has not started the node")
        return self.proc.pid

    def check_alive(self) -> None:
        """RuntimeError (with the log's tail) when the node process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"pose_node exited ({self.proc.returncode}):\n{self.node_log()[-2000:]}"
            )

    def node_log(self) -> str:
        """Everything the node process wrote (stdout and stderr) so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for(self, predicate: Any, timeout_s: float, what: str) -> None:
        """Poll ``predicate`` until true; RuntimeError naming ``what`` on timeout or node exit."""
        from privpose_ros.ros.spinning import wait_for_node

        wait_for_node(predicate, timeout_s, self.proc, what, self.log_path)

    # frames -----------------------------------------------------------------------------------
    def publish(self, frame: RGBDFrame, cache_key: int | None = None) -> int:
        """Publish one frame stamped now; returns the stamp (ns)."""
        return self.replayer.publish(frame, cache_key=cache_key)

    def warm_up(
        self, frame: RGBDFrame, rate_hz: float, answers: int = 5, timeout_s: float | None = None
    ) -> None:
        """Publish ``frame`` at ``rate_hz`` until ``answers`` of these stamps came back (models
        loaded, engines built); its stamps are not part of any measurement."""
        if rate_hz <= 0 or answers < 1:
            raise ValueError(f"rate_hz must be > 0 and answers >= 1, got {rate_hz}, {answers}")
        stamps: list[int] = []

        def warmed() -> bool:
            stamps.append(self.publish(frame, cache_key=0))
            time.sleep(1.0 / rate_hz)
            return self.recorder.answered(stamps) >= answers

        timeout = self.startup_timeout_s if timeout_s is None else timeout_s
        self.wait_for(warmed, timeout, "the first outputs (warm-up)")

    def stream(
        self,
        frames: Sequence[RGBDFrame],
        count: int,
        rate_hz: float | None = None,
        *,
        lockstep_timeout_s: float | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Publish ``count`` frames cycling through ``frames``, yielding (index into ``frames``,
        stamp) after each. ``rate_hz``: frame i leaves at start + i / rate_hz (None: at once);
        ``lockstep_timeout_s``: wait up to that long for each frame's answer before the next.
        A node process that exits stops the stream with a RuntimeError."""
        from privpose_ros.apps.replay import paced

        if count < 0 or not frames:
            raise ValueError(f"need frames and count >= 0, got {len(frames)} frames, {count}")
        for i in paced(count, rate_hz) if rate_hz is not None else range(count):
            index = i % len(frames)
            stamp = self.publish(frames[index], cache_key=index)
            if lockstep_timeout_s is not None:
                deadline = time.monotonic() + lockstep_timeout_s
                while stamp not in self.recorder.outputs and time.monotonic() < deadline:
                    self.check_alive()
                    time.sleep(0.01)
            self.check_alive()
            yield index, stamp

    def settle(self, stamps: Collection[int], timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the answers to ``stamps`` still on their way."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.recorder.answered(stamps) < len(stamps):
            time.sleep(0.05)
