"""Anny people and their OpenGL rendering: the projection matches OpenCV's, bodies are plausible,
occlusion between people is labelled, and a machine without EGL gets one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros import cli
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data import gl_render
from privpose_ros.data.anny_body import pose_people
from privpose_ros.data.anny_model import identity_pool, skin, skin_matrix
from privpose_ros.data.body import POSE_FAMILIES
from privpose_ros.data.gl_render import MeshRenderer, PersonLook, PosedPerson
from privpose_ros.data.render_anny import renderer
from privpose_ros.data.scene import look_at
from privpose_ros.data.scene_render import people_labels

J = {n: i for i, n in enumerate(CANONICAL.joint_names)}
K = np.array([[300.0, 0.0, 150.3], [0.0, 310.0, 112.7], [0.0, 0.0, 1.0]])  # off-centre


def _look(num_vertices: int) -> PersonLook:
    grey = np.full((gl_render.NUM_REGIONS, 3), 0.5)
    pattern = np.zeros((gl_render.NUM_REGIONS, 4))
    return PersonLook(np.zeros(num_vertices, np.float32), grey, grey, pattern)


def _camera(eye, target) -> tuple[np.ndarray, np.ndarray]:
    eye = np.asarray(eye, float)
    rot = look_at(eye[None], np.asarray(target, float)[None], np.array([[0.0, 0.0, 1.0]]))[0]
    return eye, rot


def _posed(people, i: int, eye: np.ndarray, rot: np.ndarray) -> PosedPerson:
    bones = np.einsum("ij,bjk->bik", rot, people.bones_w[i])
    bones[:, :, 3] -= rot @ eye
    body = int(people.identity[i])
    rest = identity_pool().rest_vertices_m[body]
    verts = skin(bones, rest, skin_matrix())
    return PosedPerson(body, rest, verts, _look(len(rest)))


def test_gl_projection_is_opencv_to_half_a_pixel() -> None:
    # a fronto-parallel square 2 m away: covered pixel centres are exactly those inside its
    # OpenCV projection, and the depth attachment holds its metric z
    corners = np.array(
        [[-0.31, -0.22, 2.0], [0.27, -0.22, 2.0], [0.27, 0.19, 2.0], [-0.31, 0.19, 2.0]]
    )
    gl = MeshRenderer(320, 240, np.array([[0, 2, 1], [0, 3, 2]]), 4)
    try:
        img = gl.render(K, [PosedPerson(0, corners, corners, _look(4))])
        if not (img.person >= 0).any():  # wound the other way round: culled
            gl = MeshRenderer(320, 240, np.array([[0, 1, 2], [0, 2, 3]]), 4)
            img = gl.render(K, [PosedPerson(0, corners, corners, _look(4))])
    finally:
        gl.release()
    rows, cols = np.nonzero(img.person == 0)
    uv = corners @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    assert cols.min() == np.ceil(uv[:, 0].min()) and cols.max() == np.floor(uv[:, 0].max())
    assert rows.min() == np.ceil(uv[:, 1].min()) and rows.max() == np.floor(uv[:, 1].max())
    np.testing.assert_allclose(img.depth_m[rows, cols], 2.0, atol=1e-5)
    normals = img.normal_cam[rows, cols]  # 8 bits a component
    np.testing.assert_allclose(
        normals, np.broadcast_to([0.0, 0.0, -1.0], normals.shape), atol=0.01
    )
    assert (img.depth_m[img.person < 0] == 0).all()


def test_rendered_body_matches_its_projected_mesh() -> None:
    people = pose_people(np.random.default_rng(5), 1, np.zeros((1, 2)), np.array([0]))
    eye, rot = _camera([0.4, 3.0, 1.1], [0.0, 0.0, 0.9])
    person = _posed(people, 0, eye, rot)
    img = renderer(320, 240).render(K, [person])
    rows, cols = np.nonzero(img.person == 0)
    uv = person.vertices_cam_m @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    box = [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]
    extent = [uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]
    np.testing.assert_allclose(box, extent, atol=1.0)  # slivers at extreme vertices
    # the nearest rendered surface is the nearest vertex
    assert img.depth_m[rows, cols].min() == pytest.approx(
        person.vertices_cam_m[:, 2].min(), abs=0.01
    )


def test_bodies_stand_on_the_floor_children_and_adults() -> None:
    fams = np.arange(48) % len(POSE_FAMILIES)
    people = pose_people(np.random.default_rng(0), 48, np.zeros((48, 2)), fams)
    heights = identity_pool().height_m
    assert heights.min() >= 1.0 and heights.max() <= 2.0
    assert (heights < 1.4).sum() >= 5 and (heights > 1.8).sum() >= 5
    standing = fams == POSE_FAMILIES.index("standing")
    top = people.joints_w_m[standing, J["head_top"], 2]
    np.testing.assert_allclose(top / people.height_m[standing], 1.0, atol=0.05)
    feet = people.joints_w_m[standing][:, [J["left_foot"], J["right_foot"]], 2]
    assert feet.max() < 0.08
    upper_arm = np.linalg.norm(
        people.joints_w_m[:, J["left_elbow"]] - people.joints_w_m[:, J["left_shoulder"]], axis=1
    )
    ratio = upper_arm / people.height_m
    assert (ratio > 0.13).all() and (ratio < 0.22).all()
    # anatomical sides: standing up and looking ahead, the left hip is on the left
    up = people.joints_w_m[standing, J["neck"]] - people.joints_w_m[standing, J["pelvis"]]
    ahead = people.joints_w_m[standing, J["nose"]] - people.joints_w_m[standing, J["head"]]
    left = people.joints_w_m[standing, J["left_hip"]] - people.joints_w_m[standing, J["right_hip"]]
    assert (np.einsum("mi,mi->m", np.cross(up, ahead), left) > 0).all()
    # sitting people's seats are at chair height
    sitting = fams == POSE_FAMILIES.index("sitting")
    assert (people.seat_top_m[sitting] > 0.2).all() and (people.seat_top_m[sitting] < 0.7).all()


def test_a_person_behind_another_is_occluded() -> None:
    fams = np.array([POSE_FAMILIES.index("standing")] * 2)
    people = pose_people(np.random.default_rng(2), 2, np.array([[0.0, 0.0], [0.0, 1.5]]), fams)
    eye, rot = _camera([0.0, 5.0, 1.0], [0.0, 0.0, 1.0])  # the second person stands between
    img = renderer(320, 240).render(K, [_posed(people, i, eye, rot) for i in range(2)])
    joints = np.full((1, 4, 26, 3), np.nan)
    surface = np.zeros((1, 4, 26))
    joints[0, :2] = (people.joints_w_m - eye) @ rot.T
    surface[0, :2] = people.surface_offset_m
    depth = np.where(img.person >= 0, img.depth_m, np.inf)[None]
    labels = people_labels(joints, surface, K[None], depth, img.person[None], 0.03)
    trunk = [J[n] for n in ("pelvis", "spine", "neck", "left_hip", "right_hip")]
    assert not labels["people_visible"][0, 0, trunk].any()  # behind the other one
    assert labels["people_visible"][0, 1, [J["pelvis"], J["left_hip"], J["right_hip"]]].all()
    assert labels["instance_mask"].max() == 2 and (labels["instance_mask"] == 2).sum() > 500


def test_no_egl_gives_one_clear_error(monkeypatch, capsys) -> None:
    import moderngl

    def no_display(**kwargs):
        raise Exception("eglGetDisplay failed")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_display)
    with pytest.raises(PrivposeInputError, match="sudo apt install libegl1 libgl1-mesa-dri"):
        gl_render.create_context()
    monkeypatch.setattr("privpose_ros.data.render_anny._RENDERERS", {})
    assert cli.main(["synth", "--bench", "--frames", "4", "--size", "64x48"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "libegl1" in err[0] and "eglGetDisplay failed" in err[0]
