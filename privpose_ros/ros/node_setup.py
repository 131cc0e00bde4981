"""ROS types for the node's setup: parameter descriptors from the ParamSpec table, QoS choices."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from privpose_ros.ros.params import ParamSpec

# the node's inputs (relative, remappable)
RGB_TOPIC, INFO_TOPIC, DEPTH_TOPIC = (
    "rgb/image_rect_color",
    "rgb/camera_info",
    "depth_registered/image_rect",
)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    text = spec.description + (f" (one of {', '.join(spec.choices)})" if spec.choices else "")
    desc = ParameterDescriptor(name=spec.name, description=text)
    if spec.min_value is not None and isinstance(spec.default, int | float):
        if isinstance(spec.default, bool):
            return desc
        if isinstance(spec.default, int):
            desc.integer_range = [
                IntegerRange(from_value=int(spec.min_value), to_value=int(spec.max_value), step=0)
            ]
        else:
            desc.floating_point_range = [
                FloatingPointRange(
                    from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0
                )
            ]
    return desc


def qos_profile(choice: str) -> QoSProfile:
    if choice == "sensor_data":
        return qos_profile_sensor_data
    return QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
