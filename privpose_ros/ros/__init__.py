"""The only code that imports rclpy and ROS message packages."""
