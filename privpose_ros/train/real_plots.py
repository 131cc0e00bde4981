"""The figure of `privpose eval --real --plot out.png`: one panel per evaluated section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privpose_ros.train.plots import save_figure


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _real2d(ax: Any, section: dict[str, Any]) -> None:
    names = list(section["per_set"]) + ["overall"]
    rows = [section["per_set"][n] for n in names[:-1]] + [section["overall"]]
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [_nan(r["recall_at_oks"]) for r in rows], 0.4, label="recall")
    ax.bar([x + 0.2 for x in xs], [_nan(r["mean_oks"]) for r in rows], 0.4, label="mean OKS")
    labels = [f"{n}\n({r['n_gt_persons']})" for n, r in zip(names, rows, strict=True)]
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"real2d: 12 limb joints, recall at OKS >= {section['oks_threshold']}")
    ax.legend(fontsize=8)


def _real3d(ax: Any, section: dict[str, Any]) -> None:
    rows = section["per_frame"]
    keys = (("mpjpe_rel_mm", "MPJPE rel. (mm)"), ("pelvis_error_mm", "pelvis (mm)"))
    xs = range(len(rows))
    for i, (key, label) in enumerate(keys):
        ax.bar([x + (i - 0.5) * 0.4 for x in xs], [_nan(r[key]) for r in rows], 0.4, label=label)
    twin = ax.twinx()
    twin.plot(list(xs), [_nan(r["error_2d_px"]) for r in rows], "ko-", label="2D (px)")
    twin.set_ylabel("2D error (px)")
    ax.set_xticks(list(xs), [r["image"].rsplit(".", 1)[0] for r in rows], fontsize=7)
    ax.set_ylabel("mm")
    ax.set_title("real3d (MPI-INF-3DHP): pelvis + 12 limb joints")
    ax.legend(fontsize=8, loc="upper left")


def _rgbd(ax: Any, section: dict[str, Any]) -> None:
    ranges = section["bone_ranges_m"]
    rows = section["per_frame"]
    bones = list(rows[0]["bone_lengths_m"]) if rows else []
    for i, bone in enumerate(bones):
        kind = next(k for k in ranges if bone.startswith(k))
        low, high = ranges[kind]
        ax.fill_between([i - 0.4, i + 0.4], low, high, color="tab:green", alpha=0.2, lw=0)
        values = [r["bone_lengths_m"][bone] for r in rows]
        ax.plot([i] * len(values), [_nan(v) for v in values], "o", color="tab:blue", ms=4)
    ax.set_xticks(range(len(bones)), bones, rotation=60, fontsize=7)
    ax.set_ylabel("length (m)")
    summary = section["summary"]
    ax.set_title(
        f"rgbd_tue: standing person found {_nan(summary['standing_found_rate']):.2f}, "
        f"joints behind depth {_nan(summary['behind_surface_fraction']):.2f}",
        fontsize=9,
    )


def plot_real_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write a PNG of the sections of an :func:`real_eval.evaluate_real` report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (name, draw)
        for name, draw, key in (
            ("real2d", _real2d, "per_set"),
            ("real3d", _real3d, "per_frame"),
            ("rgbd_tue", _rgbd, "per_frame"),
        )
        if key in report.get(name, {})
    ]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(6 * max(len(panels), 1), 4.5))
    axes = list(axes) if len(panels) > 1 else [axes]
    for ax, (name, draw) in zip(axes, panels, strict=False):
        draw(ax, report[name])
        ax.grid(alpha=0.3)
    if not panels:
        axes[0].text(0.5, 0.5, "no section evaluated", ha="center")
    return save_figure(fig, path)
