"""The `pose_node` lifecycle node: a thin shell around decode -> estimate -> refine -> publish.

Subscriptions (relative, remappable): ``rgb/image_rect_color``, ``rgb/camera_info``,
``depth_registered/image_rect`` (unless ``use_depth`` is false), synchronised approximately; the
latest synchronised frame is handed to one worker thread (older ones are dropped, never queued).
Depth silent for ``sync.depth_timeout_s``: colour + camera_info are processed RGB-only until it
returns; a camera_info published once (latched) serves the later images of its frame id.
Outputs are stamped with the source image stamp. The model is loaded in configure and released
in cleanup; with ``autostart`` (default) the node configures and activates itself.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.pose import PersonPose
from privpose_ros.ros import compat
from privpose_ros.ros.cloud import keypoints_cloud
from privpose_ros.ros.diagnostics import NodeStats
from privpose_ros.ros.markers import SkeletonMarkers
from privpose_ros.ros.node_health import NodeHealth
from privpose_ros.ros.node_setup import (
    DEPTH_TOPIC,
    INFO_TOPIC,
    RGB_TOPIC,
    declare_parameters,
    qos_profile,
    read_config,
)
from privpose_ros.ros.params import NodeConfig, validate
from privpose_ros.ros.pose_msgs import (
    joint_transforms,
    moved_to_frame,
    pose_array,
    select_persons,
    select_primary,
    stamp_ns_of,
)
from privpose_ros.ros.processing import BadFrame, decode_frame, default_pipeline
from privpose_ros.ros.spinning import ignore_stop_signals, install_stop_signals, spin_node
from privpose_ros.ros.stamps import StampGuard, StampRefused
from privpose_ros.ros.sync import LatestSlot

if TYPE_CHECKING:
    from privpose_ros.runtime.pipeline import PosePipeline

Factory = Callable[[NodeConfig], Any]


class PoseNode(NodeHealth, LifecycleNode):
    """Lifecycle node publishing /human_pose, keypoints, markers, TF and /diagnostics."""

    def __init__(
        self,
        pipeline_factory: Factory = default_pipeline,
        **node_kwargs: Any,
    ) -> None:
        """``pipeline_factory(config)`` builds the per-frame pipeline (a
        :class:`~privpose_ros.runtime.pipeline.PosePipeline`; tests give one with fake stages)."""
        super().__init__("pose_node", **node_kwargs)
        self._pipeline_factory = pipeline_factory
        self._camera_origin_m = None
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = NodeStats()
        self.config: NodeConfig | None = None
        self._pipeline: PosePipeline | None = None
        self._sync: compat.Synchronizer | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._slot = LatestSlot()
        self._stamps = StampGuard()
        self._heartbeat_s = time.monotonic()
        self._last_tf_ns = 0
        self._pubs: dict[str, Any] = {}
        self._diag_timer = None
        self._tf_broadcaster = None
        self._tf_buffer = None
        self._hri = None  # REP 155 bodies (ros/hri.py), with hri.enabled
        self._image_wh = (0, 0)  # the last decoded frame's width, height (px)
        self.backend_name = "none"
        self.autostart_failed = False
        self._rgb_only = False  # the last synchronised set came without depth (depth silent)
        from privpose_ros.track.tracker import IdSource

        self.person_ids = IdSource()  # one for the node's life: ids never reused
        if self.get_parameter("autostart").value:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
            else:
                self.autostart_failed = True

    # ---- parameters -------------------------------------------------------------------------
    def _on_set_parameters(self, params: Sequence[Parameter]) -> SetParametersResult:
        reasons = [r for p in params if (r := validate(p.name, p.value))]
        if reasons:
            return SetParametersResult(successful=False, reason="; ".join(reasons))
        return SetParametersResult(successful=True, reason="applied at the next configure")

    # ---- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: Any) -> TransitionCallbackReturn:
        try:
            self.config = config = read_config(self)
            self._stamps = StampGuard(config.time.max_future_s)
            self._pipeline = pipeline = self._pipeline_factory(config)
            tracker = getattr(pipeline, "tracker", None)
            if tracker is not None and hasattr(tracker, "ids"):  # ids go on across configures
                tracker.ids = self.person_ids
        except (PrivposeInputError, ImportError, FileNotFoundError, RuntimeError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.backend_name = str(getattr(pipeline, "backend_name", type(pipeline).__name__))
        out_qos = qos_profile(config.qos.output)
        self._pubs = {
            "pose": self.create_publisher(PoseArray, "human_pose", out_qos),
            "keypoints": self.create_publisher(PointCloud2, "human_pose/keypoints", out_qos),
            "markers": self.create_publisher(MarkerArray, "human_pose/markers", out_qos),
            "diagnostics": self.create_publisher(DiagnosticArray, "/diagnostics", 10),
        }
        if config.tf.enabled:
            self._tf_broadcaster = compat.transform_broadcaster(self)
        if config.hri.enabled:  # REP 155 beside the topics above; shares the TF broadcaster
            from privpose_ros.ros.hri import HriPublisher  # needs hri_msgs

            self._hri = HriPublisher(self, config.tf.rate_hz, self._tf_broadcaster)
        if config.target_frame:
            self._tf_buffer = compat.TfBuffer(self)
        self._diag_timer = self.create_timer(config.diagnostics.period_s, self._publish_diag)
        self.get_logger().info(
            f"configured: backend {self.backend_name}, depth {config.use_depth}, "
            f"joint set {config.joint_set.name}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: Any) -> TransitionCallbackReturn:
        config = self.config
        topics = [  # index 0 must be the colour image (compat.Synchronizer counts by it)
            (*self._input(RGB_TOPIC, config.transport.rgb), qos_profile(config.qos.rgb)),
            (CameraInfo, INFO_TOPIC, qos_profile(config.qos.camera_info)),
        ]
        if config.use_depth:
            depth = self._input(DEPTH_TOPIC, config.transport.depth)
            topics.append((*depth, qos_profile(config.qos.depth)))
        self._sync = compat.Synchronizer(
            self,
            topics,
            config.sync.queue_size,
            config.sync.slop_s,
            self._on_synced,
            depth_timeout_s=config.sync.depth_timeout_s,
            on_input=self._on_input,
            on_skip=self._on_input_skip,
        )
        self._rgb_only = False
        self._stop.clear()
        self._slot.clear()
        self._heartbeat_s = time.monotonic()
        self._worker = threading.Thread(target=self._work, name="privpose_worker", daemon=True)
        self._worker.start()
        return TransitionCallbackReturn.SUCCESS

    def _input(self, topic: str, transport: str) -> tuple[type, str]:
        """Image on ``topic`` (``transport`` raw), or image_transport's CompressedImage on the
        remapped ``topic`` + ``/compressed`` | ``/compressedDepth`` (the ``transport``)."""
        if transport == "raw":
            return Image, topic
        return CompressedImage, f"{self.resolve_topic_name(topic)}/{transport}"

    def _stop_worker(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=10.0)

    def release(self) -> None:
        """Stop inference and free the model without ROS calls (after the context shut down)."""
        self._stop_worker()
        if self._pipeline is not None:
            self._pipeline.close()
        self._pipeline = None

    def on_deactivate(self, state: Any) -> TransitionCallbackReturn:
        self._stop_worker()
        if self._sync is not None:
            self._sync.destroy()
        self._sync = self._worker = None
        self._slot.clear()  # a frame that waited must not be processed after re-activation
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: Any) -> TransitionCallbackReturn:
        """Release everything configure created, so a new configure really starts afresh."""
        self.release()
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        if self._hri is not None:
            self._hri.destroy()
            self._hri = None
        if self._tf_broadcaster is not None:
            for name in ("pub_tf", "publisher"):
                pub = getattr(self._tf_broadcaster, name, None)
                if pub is not None:
                    self.destroy_publisher(pub)
            self._tf_broadcaster = None
        if self._tf_buffer is not None:
            self._tf_buffer.destroy()
            self._tf_buffer = None
        self._slot.clear()
        self._stamps.reset()
        self._last_tf_ns = 0
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: Any) -> TransitionCallbackReturn:
        if self._worker is not None:
            self.on_deactivate(state)
        return self.on_cleanup(state)

    # ---- data path --------------------------------------------------------------------------
    def _wanted(self) -> bool:
        """Lazy: is anybody subscribed to an output (or to /tf when TF is on)?"""
        pubs = [self._pubs.get(k) for k in ("pose", "keypoints", "markers")]
        if self._tf_broadcaster is not None:
            pubs.append(getattr(self._tf_broadcaster, "pub_tf", None))
            pubs.append(getattr(self._tf_broadcaster, "publisher", None))
        if self._hri is not None:
            pubs.extend(self._hri.publishers())
        return any(p is not None and p.get_subscription_count() > 0 for p in pubs)

    def _on_input(self, index: int) -> None:
        if index == 0:  # the input rate counts colour images as they arrive
            self.stats.colour_arrived(self.get_clock().now().nanoseconds)

    def _on_synced(self, *msgs: Any) -> None:
        self.stats.frame_in(self.get_clock().now().nanoseconds, stamp_ns_of(msgs[0].header.stamp))
        rgb_only = len(msgs) > 2 and msgs[2] is None
        if rgb_only != self._rgb_only:
            self._rgb_only = rgb_only
            depth = self._topic(2)
            if rgb_only:
                self.stats.event("depth_dropouts")
                self.get_logger().warning(
                    f"no depth on {depth} for {self.config.sync.depth_timeout_s} s: processing "
                    "colour + camera_info RGB-only until depth returns"
                )
            else:
                self.get_logger().warning(f"depth on {depth} is back: RGB-D frames again")
        if not self._wanted():
            self.stats.skip("no_subscribers")
            return
        self._slot.put(msgs)

    def _work(self) -> None:
        while not self._stop.is_set():
            self._heartbeat_s = time.monotonic()
            msgs = self._slot.take(timeout_s=0.1)
            if msgs is None:
                continue
            try:
                self.process_msgs(*msgs)
            except Exception as exc:  # noqa: BLE001 - nothing may end the worker
                self.stats.skip("internal_error")
                self.get_logger().error(
                    f"unexpected {type(exc).__name__} outside frame processing: {exc}",
                    throttle_duration_sec=2.0,
                )

    def process_msgs(self, rgb_msg: Any, info_msg: Any, depth_msg: Any | None = None) -> bool:
        """Process one synchronised set; False when it was skipped (logged and counted)."""
        logger = self.get_logger()
        started = time.perf_counter()
        try:
            frame, notes = decode_frame(rgb_msg, info_msg, depth_msg, self.config.camera.rectified)
            self._image_wh = (frame.rgb.shape[1], frame.rgb.shape[0])
            for note in notes:
                logger.warning(note, throttle_duration_sec=10.0)
            if self._stamps.check(frame.stamp_ns, self._clock_now_ns()):
                self._on_clock_jump(frame.stamp_ns)
            result = self._pipeline.process(frame)
            persons = select_persons(
                result, self.config.joint_set, self.config.confidence_threshold
            )
            frame_id = frame.frame_id
            self._camera_origin_m = None
            if self.config.target_frame:
                persons, frame_id = self._to_target(persons, frame)
            rgb_only = frame.depth_mm is None and self.config.use_depth
            self._publish(persons, frame.stamp_ns, frame_id, started, rgb_only)
        except (BadFrame, StampRefused) as exc:
            self.stats.skip(exc.reason)
            logger.warning(f"skipped frame: {exc}", throttle_duration_sec=2.0)
            return False
        except (PrivposeInputError, ValueError, RuntimeError) as exc:
            self.stats.skip("estimator_error")
            logger.error(f"inference failed: {exc}", throttle_duration_sec=2.0)
            return False
        except Exception as exc:  # noqa: BLE001 - a bug must cost one frame, not the node
            self.stats.skip("unexpected_error")
            where = " | ".join(traceback.format_exc(limit=-2).strip().splitlines())
            logger.error(
                f"frame skipped on an unexpected {type(exc).__name__}: {exc} ({where})",
                throttle_duration_sec=2.0,
            )
            return False
        return True

    def _to_target(self, persons: list[PersonPose], frame: RGBDFrame) -> tuple[list, str]:
        target = self.config.target_frame
        try:
            rot, trans = self._tf_buffer.lookup(
                target, frame.frame_id, frame.stamp_ns, self.config.tf_timeout_s
            )
        except LookupError as exc:
            raise BadFrame("tf_lookup", f"no TF {frame.frame_id} -> {target}: {exc}") from exc
        moved = moved_to_frame(persons, rot, trans)
        self._camera_origin_m = np.asarray(trans, dtype=np.float64)
        return moved, target

    def _publish(
        self,
        persons: list[PersonPose],
        stamp_ns: int,
        frame_id: str,
        started: float,
        rgb_only: bool = False,
    ) -> None:
        config = self.config
        joint_set = config.joint_set
        self._pubs["pose"].publish(
            pose_array(
                select_primary(persons, config.output.person_selection, self._camera_origin_m),
                joint_set,
                config.output_indices,
                stamp_ns,
                frame_id,
            )
        )
        processing_ms = (time.perf_counter() - started) * 1e3
        self.stats.frame_out(self.get_clock().now().nanoseconds, stamp_ns, processing_ms, rgb_only)
        self._pubs["keypoints"].publish(keypoints_cloud(persons, stamp_ns, frame_id))
        if getattr(self, "_markers", None) is None:  # remembers who was shown, for DELETEs
            self._markers = SkeletonMarkers()
        self._pubs["markers"].publish(
            self._markers(persons, joint_set, stamp_ns, frame_id, config.marker.lifetime_s)
        )
        if self._tf_broadcaster is not None and persons:
            now_ns = self.get_clock().now().nanoseconds
            if now_ns - self._last_tf_ns >= 1e9 / config.tf.rate_hz:
                self._last_tf_ns = now_ns
                self._tf_broadcaster.sendTransform(
                    joint_transforms(persons, joint_set, self.tf_prefix, stamp_ns, frame_id)
                )
        if self._hri is not None:  # after the joint TF: one /tf order when they share it
            self._hri.publish(persons, stamp_ns, frame_id, self._image_wh)

    @property
    def tf_prefix(self) -> str:
        """``tf.prefix``, or '<node name>/' when empty: two nodes never publish the same frames."""
        return self.config.tf.prefix or f"{self.get_name()}/"


def main(args: list[str] | None = None) -> None:
    """Console script `pose_node` (`ros2 run privpose pose_node --ros-args ...`)."""
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()  # Ctrl-C / SIGTERM: stop the worker, then the node, then rclpy
    install_stop_signals(stop)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            node = PoseNode()
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            rclpy.logging.get_logger("pose_node").error(f"bad parameter: {exc}")  # one line
            raise SystemExit(1) from None
        if node.autostart_failed:  # the reason was logged; a launch file sees the exit code
            node.destroy_node()
            raise SystemExit(1)
        spin_node(node, stop)
    finally:
        if rclpy.ok():
            # keep our handlers: rclpy's uninstall puts back SIG_DFL, and a second Ctrl-C
            # (terminal + launch) arriving during the teardown would then kill the process
            rclpy.shutdown(uninstall_handlers=False)
        # Python's finalisation puts SIG_DFL back for handlers of its own, and a late Ctrl-C
        # would then kill the exiting process (exit -2): the teardown is done, ignore it
        ignore_stop_signals()


if __name__ == "__main__":
    main()
