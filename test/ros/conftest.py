"""A small in-process ROS graph for the node tests: the node (with a fake estimator), a fixture
camera publisher and output listeners, each graph in its own rclpy Context, spun in a thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from privpose_ros.core.image_codec import encode_image  # noqa: E402
from privpose_ros.core.pose import PersonPose  # noqa: E402
from privpose_ros.ros.node import PoseNode  # noqa: E402
from privpose_ros.ros.pose_msgs import stamp_msg, stamp_ns_of  # noqa: E402
from privpose_ros.runtime.pipeline import PosePipeline  # noqa: E402

FAKE_JOINTS_M = np.random.default_rng(0).normal([0.0, 0.0, 2.5], 0.3, size=(26, 3))
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class FakeEstimator:
    """A fake front end that is its own lifter: always one person at FAKE_JOINTS_M;
    ``delay_s`` imitates inference time."""

    backend_name = "fake"
    times_ms: dict[str, float] = {}

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def find_persons(self, frame):
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return (PersonPose(FAKE_JOINTS_M, np.full(26, 0.9)),)

    def lift(self, frame, persons):
        return persons

    def reset(self) -> None:
        """No state across frames."""

    def close(self) -> None:
        """Nothing to release."""


def fake_pipeline(estimator: FakeEstimator, refiner=None) -> PosePipeline:
    """The node's pipeline with ``estimator`` as front end and lifter, ``refiner`` as the depth
    stage (None: none), no tracking."""
    return PosePipeline(estimator, estimator, refiner)


def image_msg(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Image:
    fields = encode_image(pixels, encoding)
    msg = Image(
        height=fields.height,
        width=fields.width,
        encoding=encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
    )
    msg.data = fields.data
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


def info_msg(width: int, height: int, stamp_ns: int, frame_id: str, f: float = 50.0) -> CameraInfo:
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.k = [f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0]
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


def frame_msgs(stamp_ns: int, width: int = 32, height: int = 24, frame: str = "cam"):
    rgb = np.full((height, width, 3), 120, np.uint8)
    depth = np.full((height, width), 2500, np.uint16)
    return (
        image_msg(rgb, "rgb8", stamp_ns, frame),
        info_msg(width, height, stamp_ns, frame),
        image_msg(depth, "16UC1", stamp_ns, frame),
    )


def _camera_topic(topic: str, transport: str):
    return (Image, topic) if transport == "raw" else (CompressedImage, f"{topic}/{transport}")


class Graph:
    """Node under test + camera publishers + output recorders, spun in a background thread."""

    def __init__(
        self,
        context,
        estimator: FakeEstimator | None,
        overrides: dict,
        refiner=None,
        pipeline_factory=None,
    ) -> None:
        """``estimator`` None: the node's real default pipeline (the shipped models); the
        camera publishes on the topics of the ``transport.*`` overrides (CompressedImage);
        ``pipeline_factory`` (config -> pipeline) replaces both."""
        self.context = context
        params = {"qos.rgb": "reliable", "qos.depth": "reliable", "qos.camera_info": "reliable"}
        params.update(overrides)
        fake = {}
        if estimator is not None:
            fake = {"pipeline_factory": lambda config: fake_pipeline(estimator, refiner)}
        if pipeline_factory is not None:
            fake = {"pipeline_factory": pipeline_factory}
        self.node = PoseNode(
            context=context,
            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
            **fake,
        )
        self.io = rclpy.create_node("privpose_test_io", context=context)
        rgb_t, depth_t = (params.get(f"transport.{k}", "raw") for k in ("rgb", "depth"))
        self.pubs = [
            self.io.create_publisher(*_camera_topic("rgb/image_rect_color", rgb_t), RELIABLE),
            self.io.create_publisher(CameraInfo, "rgb/camera_info", RELIABLE),
            self.io.create_publisher(
                *_camera_topic("depth_registered/image_rect", depth_t), RELIABLE
            ),
        ]
        self.received: dict[str, list] = {
            k: [] for k in ("pose", "cloud", "markers", "tf", "diag")
        }
        self.arrival_ns: list[int] = []
        for kind, msg_type, topic in (
            ("pose", PoseArray, "human_pose"),
            ("cloud", PointCloud2, "human_pose/keypoints"),
            ("markers", MarkerArray, "human_pose/markers"),
            ("tf", TFMessage, "/tf"),
            ("diag", DiagnosticArray, "/diagnostics"),
        ):
            self.io.create_subscription(msg_type, topic, self._recorder(kind), RELIABLE)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self.wait_for(lambda: all(p.get_subscription_count() > 0 for p in self.pubs[:2]))
        self.wait_for(lambda: self.node._pubs["pose"].get_subscription_count() > 0)

    def _recorder(self, kind: str):
        def record(msg) -> None:
            if kind == "pose":
                self.arrival_ns.append(time.time_ns() - stamp_ns_of(msg.header.stamp))
            self.received[kind].append(msg)

        return record

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    @staticmethod
    def wait_for(predicate, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return False

    def publish(self, msgs) -> None:
        for pub, msg in zip(self.pubs, msgs, strict=False):
            if msg is not None:
                pub.publish(msg)

    def handled(self) -> int:
        stats = self.node.stats
        return stats.frames_out + sum(stats.skipped.values())

    def send_and_wait(self, msgs, timeout_s: float = 10.0) -> bool:
        before = self.handled()
        self.publish(msgs)
        return self.wait_for(lambda: self.handled() > before, timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.node.trigger_shutdown()
        self.executor.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()


@pytest.fixture
def make_graph():
    graphs = []

    def build(
        estimator: FakeEstimator | None = None,
        real: bool = False,
        refiner=None,
        pipeline_factory=None,
        **overrides,
    ) -> Graph:
        """A graph around ``estimator`` (default a FakeEstimator; ``refiner`` with it), or the
        real models, or the pipelines of ``pipeline_factory`` (config -> pipeline)."""
        context = rclpy.Context()
        rclpy.init(context=context)
        fake = None if real else estimator or FakeEstimator()
        graph = Graph(context, fake, overrides, refiner, pipeline_factory)
        graphs.append(graph)
        return graph

    yield build
    for graph in graphs:
        graph.close()
        rclpy.shutdown(context=graph.context)
