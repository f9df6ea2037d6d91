"""Colour as luminance plus chroma, with the gray input matched exactly.

An RGB image in ``[0, 1]`` is written ``rgb = Y + D c``: ``Y`` the luminance (ITU-R BT.601 luma,
the gray image the task receives) and ``c = (Cb, Cr)`` the chroma, ``D`` the YCbCr chroma
directions, which have zero luma. Any chroma keeps the luma equal to ``Y``; only chroma inside a
polygon (the plane ``luma = Y`` cut by the RGB cube) gives valid colours. :func:`compose` scales
an out-of-range chroma towards gray just enough to enter the cube, so every output reproduces its
gray input whatever the optimizer or sampler does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genmodels.data.imageset import LUMA
from genmodels.data.imageset import luma as luma  # re-exported: the task speaks luma + chroma

#: RGB offset of unit Cb and unit Cr (full-range YCbCr, as in JPEG); each has zero luma.
_CB = (0.0, -0.114 * 1.772 / 0.587, 1.772)
_CR = (1.402, -0.299 * 1.402 / 0.587, 0.0)


def _directions(like: Tensor) -> Tensor:
    """``(2, 3)``: the RGB offsets of unit Cb and unit Cr."""
    return torch.tensor([_CB, _CR], dtype=like.dtype, device=like.device)


def chroma_offsets(chroma: Tensor) -> Tensor:
    """``(B, 2, H, W)`` chroma -> ``(B, 3, H, W)`` RGB offsets (zero luma)."""
    return torch.einsum("bkhw,kc->bchw", chroma, _directions(chroma))


def to_chroma(rgb: Tensor) -> Tensor:
    """``(B, 3, H, W)`` -> ``(B, 2, H, W)`` (Cb, Cr), the inverse of the offsets."""
    y = luma(rgb)
    return torch.cat([(rgb[:, 2:3] - y) / 1.772, (rgb[:, 0:1] - y) / 1.402], dim=1)


def feasible_scale(gray: Tensor, offsets: Tensor) -> Tensor:
    """Per pixel ``(B, 1, H, W)``: the largest ``t <= 1`` keeping ``gray + t * offsets`` in
    ``[0, 1]``."""
    room_up = (1.0 - gray) / offsets.clamp_min(1e-12)
    room_down = gray / (-offsets).clamp_min(1e-12)
    limit = torch.where(offsets > 0, room_up, torch.where(offsets < 0, room_down, 1.0))
    return limit.amin(1, keepdim=True).clamp(0.0, 1.0)


def compose(gray: Tensor, chroma: Tensor) -> Tensor:
    """RGB ``(B, 3, H, W)`` with luma exactly ``gray`` ``(B, 1, H, W)`` and the given chroma,
    scaled towards gray per pixel where it would leave the RGB cube."""
    offsets = chroma_offsets(chroma)
    return (gray + feasible_scale(gray, offsets) * offsets).clamp(0.0, 1.0)


def overshoot(gray: Tensor, chroma: Tensor) -> Tensor:
    """Per-image squared length of the chroma cut off by :func:`compose` ``(B,)``."""
    t = feasible_scale(gray, chroma_offsets(chroma))
    return (((1.0 - t) * chroma) ** 2).flatten(1).sum(1)


# -- the feasible polygon: exact uniform sampling -------------------------------------------------

_CUBE_EDGES = [
    (a, b)
    for a in range(8)
    for b in range(a + 1, 8)
    if bin(a ^ b).count("1") == 1  # corners differing in one coordinate
]


def _polygons(gray: Tensor) -> tuple[Tensor, Tensor]:
    """Vertices ``(P, 12, 2)`` of each pixel's feasible chroma polygon, ordered around it, and a
    validity mask ``(P, 12)``; ``gray`` is ``(P,)`` in ``[0, 1]``."""
    corners = torch.tensor(
        [[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=gray.dtype
    )
    lum = corners @ torch.tensor(LUMA, dtype=gray.dtype)
    a = torch.tensor([e[0] for e in _CUBE_EDGES])
    b = torch.tensor([e[1] for e in _CUBE_EDGES])
    la, lb = lum[a], lum[b]  # (12,)
    t = (gray[:, None] - la) / (lb - la)  # where the plane crosses each edge
    valid = (t >= 0) & (t <= 1)
    rgb = corners[a] + t[..., None].clamp(0, 1) * (corners[b] - corners[a])  # (P, 12, 3)
    y = gray[:, None, None]
    cb = (rgb[..., 2:3] - y) / 1.772
    cr = (rgb[..., 0:1] - y) / 1.402
    verts = torch.cat([cb, cr], -1)
    centre = (verts * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1)
    angle = torch.atan2(verts[..., 1] - centre[:, None, 1], verts[..., 0] - centre[:, None, 0])
    order = torch.where(valid, angle, torch.full_like(angle, 1e9)).argsort(1)
    verts = verts.gather(1, order[..., None].expand(-1, -1, 2))
    return verts, valid.gather(1, order)


def _fan(gray: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fan triangles ``(v0, v_i, v_i+1)`` of each polygon and their areas ``(P, 10)``."""
    verts, valid = _polygons(gray)
    v0 = verts[:, :1].expand(-1, 10, -1)
    v1, v2 = verts[:, 1:11], verts[:, 2:12]
    ok = valid[:, 1:11] & valid[:, 2:12]
    e1, e2 = v1 - v0, v2 - v0
    area = 0.5 * (e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]).abs() * ok
    return v0, v1, v2, area


def polygon_centroid(gray: Tensor) -> Tensor:
    """The mean chroma of the uniform distribution on each pixel's feasible polygon.

    ``gray`` ``(B, 1, H, W)`` -> chroma ``(B, 2, H, W)``: the posterior mean under a uniform prior.
    """
    flat = gray.permute(0, 2, 3, 1).reshape(-1).to(torch.float64)
    v0, v1, v2, area = _fan(flat)
    total = area.sum(1, keepdim=True)
    weights = torch.where(total > 0, area / total.clamp_min(1e-300), 0.0)
    centre = ((v0 + v1 + v2) / 3 * weights[..., None]).sum(1)
    b, _, h, w = gray.shape
    return centre.view(b, h, w, 2).permute(0, 3, 1, 2).to(gray.dtype)


def polygon_area(gray: Tensor) -> Tensor:
    """The area of each pixel's feasible chroma polygon ``(B, 1, H, W)`` (chroma units squared;
    zero for pure black or white, whose chroma is forced)."""
    flat = gray.permute(0, 2, 3, 1).reshape(-1).to(torch.float64)
    area = _fan(flat)[3].sum(1)
    b, _, h, w = gray.shape
    return area.view(b, h, w).unsqueeze(1).to(gray.dtype)


def uniform_chroma(gray: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` chroma draws per image ``(n, B, 2, H, W)``, each pixel uniform on its polygon.

    Exact: a fan triangle is picked with probability proportional to its area, then a point
    uniform in it. Pixels whose polygon is a point (pure black or white) get that point.
    """
    flat = gray.permute(0, 2, 3, 1).reshape(-1).to(torch.float64)
    v0, v1, v2, area = _fan(flat)
    p = len(flat)
    degenerate = area.sum(1) <= 0
    weights = torch.where(degenerate[:, None], torch.ones_like(area), area)
    pick = torch.multinomial(weights, n, replacement=True, generator=generator)  # (P, n)
    idx = pick[..., None].expand(-1, -1, 2)
    a, b, c = v0.gather(1, idx), v1.gather(1, idx), v2.gather(1, idx)
    u = torch.rand(p, n, 2, generator=generator, dtype=torch.float64)
    flip = u.sum(-1, keepdim=True) > 1
    u = torch.where(flip, 1 - u, u)
    points = a + u[..., :1] * (b - a) + u[..., 1:] * (c - a)
    points = torch.where(degenerate[:, None, None], torch.zeros_like(points), points)
    bsz, _, h, w = gray.shape
    return points.view(bsz, h, w, n, 2).permute(3, 0, 4, 1, 2).to(gray.dtype)
