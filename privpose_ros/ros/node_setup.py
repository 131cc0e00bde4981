"""ROS side of the node's setup: the parameters declared with descriptors and read back, QoS."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException, ParameterUninitializedException
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from privpose_ros.ros.params import PARAMS, NodeConfig, ParamSpec, config_from_values

# the node's inputs (relative, remappable)
RGB_TOPIC, INFO_TOPIC, DEPTH_TOPIC = (
    "rgb/image_rect_color",
    "rgb/camera_info",
    "depth_registered/image_rect",
)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(name=spec.name, description=spec.help_text)
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


def declare_parameters(node: Any) -> None:
    """Declare every parameter of PARAMS on ``node`` (an rclpy node) with its descriptor and
    default value (so `ros2 param dump` lists every one), and check the declared value (the
    default or the user's override) with the rule set time and configure use:
    InvalidParameterValueException with the reason when it breaks it."""
    for spec in PARAMS:
        value = spec.default
        if isinstance(value, tuple):  # a string list; an empty one only by its type
            value = list(value) or Parameter.Type.STRING_ARRAY
        declared = node.declare_parameter(spec.name, value, descriptor(spec)).value
        reason = spec.validate(declared) if declared is not None else None
        if reason:
            raise InvalidParameterValueException(spec.name, declared, reason)


def read_config(node: Any) -> NodeConfig:
    """The NodeConfig of ``node``'s current parameter values (PrivposeInputError if bad)."""
    values = {}
    for spec in PARAMS:
        try:
            values[spec.name] = node.get_parameter(spec.name).value
        except ParameterUninitializedException:  # an empty string list
            values[spec.name] = None
    return config_from_values(values)


def qos_profile(choice: str) -> QoSProfile:
    if choice == "sensor_data":
        return qos_profile_sensor_data
    return QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
