"""privpose: metric 3D human skeletons from RGB / RGB-D cameras (ROS 2 package `privpose`)."""

__version__ = "0.1.0"
