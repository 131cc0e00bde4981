"""Headless OpenGL rendering of people meshes: moderngl on EGL (Mesa llvmpipe on a CPU).

One draw per person into an offscreen framebuffer of the camera's size: posed vertices in the
camera frame come from the CPU (sparse skinning takes 0.3 ms a person; skinning in llvmpipe's
vertex shader took 7 ms), the rest mesh (solid-texture coordinates) stays in GPU memory per
identity. Fragments get albedo from solid
textures of the rest-pose surface (so patterns move with the body), camera-frame normals from
screen-space derivatives, metric depth (camera z, float32) and the person's index. The
projection maps OpenCV pinhole intrinsics exactly (pixel centres at integer coordinates;
image row v is framebuffer row v, so no flip on readback).
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

import numpy as np

from privpose_ros.core.errors import PrivposeInputError

MESA_PACKAGES = "libegl1 libgl1-mesa-dri"
NEAR_M, FAR_M = 0.05, 60.0
NUM_REGIONS = 8  # skin, hair, top, bottom, shoes, iris, sclera, lips (data/anny_look.py)

_VERTEX = """
#version 330
uniform mat4 u_proj;
in vec3 in_pos;
in vec3 in_pattern;
in float in_region;
out vec3 v_pos;
out vec3 v_pattern;
flat out int v_region;
void main() {
    v_pos = in_pos;
    v_pattern = in_pattern;
    v_region = int(in_region + 0.5);
    gl_Position = u_proj * vec4(in_pos, 1.0);
}
"""

_FRAGMENT = """
#version 330
uniform vec3 u_colour_a[8];
uniform vec3 u_colour_b[8];
uniform vec4 u_pattern[8];  // kind, cycles per metre, phase, direction (rad)
uniform float u_person;
in vec3 v_pos;
in vec3 v_pattern;
flat in int v_region;
layout(location = 0) out vec4 out_albedo;
layout(location = 1) out vec4 out_normal;
layout(location = 2) out float out_depth;
float hash(vec3 p) { return fract(sin(dot(p, vec3(127.1, 311.7, 74.7))) * 43758.5453); }
float value_noise(vec3 p) {
    vec3 i = floor(p);
    vec3 f = fract(p);
    f = f * f * (3.0 - 2.0 * f);
    float x00 = mix(hash(i), hash(i + vec3(1, 0, 0)), f.x);
    float x10 = mix(hash(i + vec3(0, 1, 0)), hash(i + vec3(1, 1, 0)), f.x);
    float x01 = mix(hash(i + vec3(0, 0, 1)), hash(i + vec3(1, 0, 1)), f.x);
    float x11 = mix(hash(i + vec3(0, 1, 1)), hash(i + vec3(1, 1, 1)), f.x);
    return mix(mix(x00, x10, f.y), mix(x01, x11, f.y), f.z);
}
void main() {
    vec4 pat = u_pattern[v_region];
    vec3 q = v_pattern * pat.y;
    float c = cos(pat.w), s = sin(pat.w);
    float s1 = q.z * c + q.x * s + pat.z;
    float s2 = q.x * c - q.z * s + 0.7 * q.y;
    int kind = int(pat.x + 0.5);
    float w = 0.0;
    if (kind == 1) {
        w = step(0.5, fract(s1));
    } else if (kind == 2) {
        w = mod(floor(s1) + floor(s2), 2.0);
    } else if (kind == 3) {
        w = value_noise(q * 2.0 + pat.z);
    } else if (kind == 4) {
        vec2 f = fract(vec2(s1, s2)) - 0.5;
        w = step(dot(f, f), 0.06);
    }
    vec3 albedo = mix(u_colour_a[v_region], u_colour_b[v_region], w);
    vec3 n = normalize(cross(dFdx(v_pos), dFdy(v_pos)));
    if (dot(n, v_pos) > 0.0) n = -n;
    out_albedo = vec4(albedo, (u_person + 1.0) / 255.0);
    out_normal = vec4(0.5 * n + 0.5, 1.0);
    out_depth = v_pos.z;
}
"""


@functools.lru_cache(maxsize=1)
def _gl_flush_function():  # -> a ctypes function or None
    """glFlush of the GL dispatch library (moderngl has finish, which waits, but no flush)."""
    for name in ("libOpenGL.so.0", "libGL.so.1"):
        try:
            return ctypes.CDLL(name).glFlush
        except (OSError, AttributeError):
            continue
    return None


def _gl_flush() -> None:
    flush = _gl_flush_function()
    if flush is not None:
        flush()


def create_context():  # -> moderngl.Context
    """A standalone EGL context; one clear error naming the packages when there is none."""
    try:
        import moderngl
    except ImportError:
        raise PrivposeInputError(
            "moderngl is not installed: run `make setup` (or `pip install moderngl==5.13.0`)"
        ) from None
    try:
        return moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions
        raise PrivposeInputError(
            f"no headless OpenGL (EGL) context ({exc}); install Mesa's EGL driver: "
            f"`sudo apt install {MESA_PACKAGES}` (Debian/Ubuntu)"
        ) from None


def gl_projection(k: np.ndarray, width: int, height: int) -> np.ndarray:
    """(4, 4) OpenGL projection of OpenCV intrinsics ``k`` (x right, y down, z forward).

    Pixel u (centre at integer u) maps to NDC x = (2u + 1) / W - 1, so GL pixel i is image
    column i; likewise rows (y down), so framebuffer row v is image row v.
    """
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    a = (FAR_M + NEAR_M) / (FAR_M - NEAR_M)
    b = -2.0 * FAR_M * NEAR_M / (FAR_M - NEAR_M)
    return np.array(
        [
            [2.0 * fx / width, 0.0, (2.0 * cx + 1.0) / width - 1.0, 0.0],
            [0.0, 2.0 * fy / height, (2.0 * cy + 1.0) / height - 1.0, 0.0],
            [0.0, 0.0, a, b],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )


@dataclass(frozen=True)
class PersonLook:
    """One person's appearance: per-vertex regions and per-region colours and patterns."""

    region: np.ndarray  # (V,) float32 region index per vertex
    colour_a: np.ndarray  # (NUM_REGIONS, 3) linear RGB
    colour_b: np.ndarray  # (NUM_REGIONS, 3)
    pattern: np.ndarray  # (NUM_REGIONS, 4) kind, cycles per metre, phase, direction


@dataclass(frozen=True)
class PeopleImage:
    """One rendered frame: people only (the scene behind them is ray cast separately)."""

    albedo: np.ndarray  # (H, W, 3) float32 linear RGB
    normal_cam: np.ndarray  # (H, W, 3) float32, facing the camera
    depth_m: np.ndarray  # (H, W) float32 camera z, 0 where no person
    person: np.ndarray  # (H, W) int16 person index, -1 where no person


@dataclass(frozen=True)
class PosedPerson:
    """What one draw needs: the identity (key of its cached rest mesh), the posed vertices in
    the camera frame and the look."""

    identity: int
    rest_vertices_m: np.ndarray  # (V, 3) model frame, uploaded once per identity
    vertices_cam_m: np.ndarray  # (V, 3) camera optical frame
    look: PersonLook


class MeshRenderer:
    """Renders posed meshes sharing one triangle list, ``frames`` images of ``width`` x
    ``height`` at a time (bands of one framebuffer).

    ``submit`` queues a whole block's draws and returns at once: Mesa rasterises on its own
    threads while the caller ray casts the room (a second core at work); ``collect`` waits and
    reads every band back in one go. ``render`` is one frame, start to finish.
    """

    def __init__(
        self,
        width: int,
        height: int,
        triangles: np.ndarray,
        num_vertices: int,
        frames: int = 1,
        max_people: int = 4,
    ) -> None:
        self.width, self.height, self.num_vertices = int(width), int(height), int(num_vertices)
        self.frames, self.slots = int(frames), int(frames) * int(max_people)
        self.ctx = create_context()
        self.program = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.pos_vbo = self.ctx.buffer(reserve=self.slots * self.num_vertices * 12)
        self.region_vbo = self.ctx.buffer(reserve=self.slots * self.num_vertices * 4)
        self.ibo = self.ctx.buffer(np.ascontiguousarray(triangles, dtype=np.uint32).tobytes())
        self._vaos: dict[int, object] = {}
        size = (self.width, self.height * self.frames)
        self.fbo = self.ctx.framebuffer(
            color_attachments=[
                self.ctx.renderbuffer(size, 4, dtype="f1"),  # albedo, person index + 1
                self.ctx.renderbuffer(size, 4, dtype="f1"),  # normal (8 bits a component)
                self.ctx.renderbuffer(size, 1, dtype="f4"),  # camera z, metres
            ],
            depth_attachment=self.ctx.depth_renderbuffer(size),
        )

    def _vao(self, identity: int, rest_vertices_m: np.ndarray):  # -> moderngl.VertexArray
        if identity not in self._vaos:
            rest = self.ctx.buffer(np.ascontiguousarray(rest_vertices_m, np.float32).tobytes())
            self._vaos[identity] = self.ctx.vertex_array(
                self.program,
                [
                    (self.pos_vbo, "3f", "in_pos"),
                    (rest, "3f", "in_pattern"),
                    (self.region_vbo, "1f", "in_region"),
                ],
                index_buffer=self.ibo,
                index_element_size=4,
            )
        return self._vaos[identity]

    def render(self, k: np.ndarray, people: list[PosedPerson]) -> PeopleImage:
        """One frame of ``people`` seen by a camera with intrinsics ``k``."""
        self.submit(k[None], [people])
        return self.collect()[0]

    def submit(self, k: np.ndarray, people: list[list[PosedPerson]]) -> None:
        """Queue frames ``people`` (at most ``frames`` lists) seen with intrinsics ``k``."""
        if len(people) > self.frames or sum(len(p) for p in people) > self.slots:
            raise ValueError(f"at most {self.frames} frames of {self.slots} people in all")
        with self.ctx:  # this context, whichever another renderer made current
            self._submit(k, people)

    def _submit(self, k: np.ndarray, people: list[list[PosedPerson]]) -> None:
        self.fbo.use()
        self.ctx.enable(self.ctx.DEPTH_TEST | self.ctx.CULL_FACE)
        # image rows are framebuffer rows (y down), which mirrors the screen: outward faces,
        # counter-clockwise in the model, arrive clockwise; culling the rest halves the work
        self.ctx.front_face = "cw"
        self.fbo.viewport = (0, 0, self.width, self.height * self.frames)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        flat = [person for frame in people for person in frame]
        if flat:  # one upload for the block: no buffer is rewritten under a queued draw
            self.pos_vbo.write(
                np.concatenate([p.vertices_cam_m for p in flat]).astype(np.float32).tobytes()
            )
            self.region_vbo.write(np.concatenate([p.look.region for p in flat]).tobytes())
        slot = 0
        for f, frame in enumerate(people):
            self.fbo.viewport = (0, f * self.height, self.width, self.height)
            proj = gl_projection(k[f], self.width, self.height).T.astype(np.float32)
            self.program["u_proj"].write(proj.tobytes())
            for p, person in enumerate(frame):
                self.program["u_colour_a"].write(person.look.colour_a.astype(np.float32).tobytes())
                self.program["u_colour_b"].write(person.look.colour_b.astype(np.float32).tobytes())
                self.program["u_pattern"].write(person.look.pattern.astype(np.float32).tobytes())
                self.program["u_person"].value = float(p)
                vao = self._vao(person.identity, person.rest_vertices_m)
                offset = slot * self.num_vertices
                vao.bind(
                    self.program["in_pos"].location, "f", self.pos_vbo, "3f", offset=offset * 12
                )
                vao.bind(
                    self.program["in_region"].location,
                    "f",
                    self.region_vbo,
                    "1f",
                    offset=offset * 4,
                )
                vao.render()
                slot += 1
        _gl_flush()  # start rasterising now, not at the read
        self._submitted = len(people)

    def collect(self) -> list[PeopleImage]:
        """The frames queued by the last ``submit``, once rendered."""
        with self.ctx:
            h, w, n = self.height, self.width, self._submitted
            view = (0, 0, w, h * n)
            rgba = np.frombuffer(self.fbo.read(view, components=4, attachment=0), np.uint8)
            normal = np.frombuffer(self.fbo.read(view, components=4, attachment=1), np.uint8)
            depth = np.frombuffer(
                self.fbo.read(view, components=1, attachment=2, dtype="f4"), np.float32
            )
        rgba, normal, depth = rgba.reshape(n, h, w, 4), normal.reshape(n, h, w, 4), depth
        depth = depth.reshape(n, h, w)
        return [
            PeopleImage(
                albedo=rgba[f, ..., :3].astype(np.float32) / 255.0,
                normal_cam=normal[f, ..., :3].astype(np.float32) / 127.5 - 1.0,
                depth_m=depth[f].copy(),
                person=rgba[f, ..., 3].astype(np.int16) - 1,
            )
            for f in range(n)
        ]

    def release(self) -> None:
        self.ctx.release()
