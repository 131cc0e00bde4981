"""ament_python package `privpose`: `colcon build` on a ROS 2 install, `pip install -e .` in .venv."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "privpose"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["privpose_ros", "privpose_ros.*"]),
    # only what the node and the commands need at run time, listed by name: the training-only
    # weights (depth.safetensors: the depth teacher, rgb.safetensors: the stage without F_hall)
    # and the test fixture frontend_golden.npz stay in the checkout
    package_data={
        "privpose_ros": [
            "weights/rgb_hall.safetensors",
            "weights/refine_a.safetensors",
            "weights/refine_b.safetensors",
            "weights/refine_c.safetensors",
            "weights/movenet_multipose.onnx",
            "weights/blazepose_landmark_full.onnx",
            "weights/blazepose_landmark_lite.onnx",
            "weights/blazepose_landmark_heavy.onnx",
            "weights/FRONTEND_SOURCES.json",
            "weights/MODEL_CARD.md",
            "weights/FRONTEND_CARD.md",
            "weights/REFINE_CARD.md",
            "weights/NOTICE",
            "weights/licenses/*.txt",
        ]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (
            f"share/{PACKAGE}/config",
            glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml"),
        ),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="privpose maintainers",
    maintainer_email="privpose@example.com",
    description="Metric 3D human skeletons from RGB / RGB-D cameras for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "privpose = privpose_ros.cli:main",
            "pose_node = privpose_ros.ros.node:main",
        ],
    },
)
