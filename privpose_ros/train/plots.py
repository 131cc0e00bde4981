"""Evaluation figures: 3D PCK (fraction of joints below a threshold) and per-joint errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_metrics(metrics: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Write a PNG with the error-vs-threshold curve and per-joint mean error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_joint = metrics["per_joint_mm"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 2]})
    ax0.plot(metrics["pck_thresholds_mm"], metrics["pck"], lw=2)
    ax0.axvline(100.0, color="grey", ls="--", lw=1)
    ax0.set_xlabel("threshold (mm)")
    ax0.set_ylabel("fraction of joints within threshold")
    ax0.set_ylim(0, 1)
    ax0.grid(alpha=0.3)
    ax0.set_title(f"mAP@10cm {metrics['map_10cm']:.3f}")
    ax1.bar(range(len(per_joint)), list(per_joint.values()))
    ax1.set_xticks(range(len(per_joint)), list(per_joint), rotation=75, fontsize=7)
    ax1.set_ylabel("mean 3D error (mm)")
    ax1.set_title(f"MPJPE {metrics['mpjpe_mm']:.1f} mm, PA-MPJPE {metrics['pa_mpjpe_mm']:.1f} mm")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig`` (a matplotlib Figure), write it to ``path`` (PNG, 100 dpi; parent folders
    made) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
