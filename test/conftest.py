"""Test session setup: an isolated ROS 2 domain per pytest run (parallel runs must not talk)."""

from __future__ import annotations

import os
import random

# Before anything imports rclpy: a private DDS domain, discovery on this machine only.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
