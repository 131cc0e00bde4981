"""The front end's own 3D: each person's BlazePose world points placed in the camera frame.

``MonocularLifter`` is the lifter of ``model: blazepose``: the metric world points (scaled by
``world_scale``: BlazePose's limbs measure 0.83-0.91 of the true lengths on real studio frames)
are translated so they project onto the person's undistorted 2D landmarks with the intrinsics
(:func:`privpose_ros.core.monocular.place_skeleton_m`), then mapped to the canonical joints.
"""

from __future__ import annotations

from dataclasses import replace

from privpose_ros.core.blazepose import landmarks_to_canonical
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.geometry import undistort_px
from privpose_ros.core.monocular import place_skeleton_m
from privpose_ros.core.pose import PersonPose


class MonocularLifter:
    """Front-end persons (with landmarks) -> the same persons with ``joints_cam_m`` in metres
    in the optical frame of ``frame.intrinsics``."""

    backend_name = "numpy"

    def __init__(self, world_scale: float = 1.1) -> None:
        if not world_scale > 0:
            raise PrivposeInputError(f"world_scale must be > 0, got {world_scale}")
        self.world_scale = float(world_scale)

    def lift(self, frame: RGBDFrame, persons: tuple[PersonPose, ...]) -> tuple[PersonPose, ...]:
        out = []
        for i, person in enumerate(persons):
            lm = person.landmarks
            if lm is None:
                raise PrivposeInputError(
                    f"person {i} has no landmarks: the monocular lifter places the front end's "
                    "BlazePose landmarks; give the pipeline a lifter for this front end"
                )
            ideal_px = undistort_px(lm.points_px, frame.intrinsics)
            cam_m = place_skeleton_m(
                lm.world_m,
                ideal_px,
                lm.visibility * lm.presence,
                frame.intrinsics,
                self.world_scale,
            )
            out.append(replace(person, joints_cam_m=landmarks_to_canonical(cam_m)))
        return tuple(out)

    def close(self) -> None:
        """Nothing to release."""
