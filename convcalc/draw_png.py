"""PNG output for ``convcalc draw``: the same :class:`~convcalc.draw.Scene` as the SVG, rendered
with matplotlib (an optional dependency: ``pip install 'convcalc[png]'``)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .draw import Circle, Line, Rect, Scene, Style, Text
from .errors import ConvcalcError

INSTALL_HINT = "pip install 'convcalc[png]'"
#: SVG pixels per inch: one scene pixel is one PNG pixel at dpi 100 (times ``zoom``)
PX_PER_INCH = 100.0


def _matplotlib() -> Any:
    try:  # imported by name: matplotlib is optional, and has no stubs for mypy to need
        import_module("matplotlib").use("Agg", force=True)
        plt = import_module("matplotlib.pyplot")
    except ImportError:
        raise ConvcalcError(f"PNG output needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return plt


def _kw(st: Style) -> dict[str, Any]:
    return {
        "facecolor": st.fill if st.fill != "none" else "none",
        "edgecolor": st.stroke if st.stroke != "none" else "none",
        "linewidth": st.width * 0.72 if st.stroke != "none" else 0,
        "linestyle": (0, (3, 2)) if st.dash else "solid",
        "alpha": st.opacity,
    }


def render_png(scene: Scene, path: str, zoom: float = 2.0) -> None:
    """Write ``scene`` as a PNG of ``zoom`` times its pixel size."""
    plt = _matplotlib()
    line_collection = import_module("matplotlib.collections").LineCollection
    patches = import_module("matplotlib.patches")

    fig = plt.figure(figsize=(scene.width / PX_PER_INCH, scene.height / PX_PER_INCH), dpi=PX_PER_INCH * zoom)
    try:
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, scene.width)
        ax.set_ylim(scene.height, 0)
        ax.set_axis_off()
        # consecutive lines of one style go into one collection (fast for thousands of edges)
        batch: list[tuple[tuple[float, float], tuple[float, float]]] = []
        batch_style: Style | None = None
        batch_z = 0

        def flush() -> None:
            nonlocal batch, batch_style
            if batch and batch_style is not None:
                st = batch_style
                ax.add_collection(
                    line_collection(
                        batch,
                        colors=st.stroke,
                        linewidths=st.width * 0.72,
                        linestyles=(0, (3, 2)) if st.dash else "solid",
                        alpha=st.opacity,
                        zorder=batch_z,
                    )
                )
            batch, batch_style = [], None

        for z, it in enumerate(scene.items):
            if isinstance(it, Line):
                if batch_style is not None and it.style != batch_style:
                    flush()
                if batch_style is None:
                    batch_z = z
                batch_style = it.style
                batch.append(((it.x1, it.y1), (it.x2, it.y2)))
                continue
            flush()
            if isinstance(it, Circle):
                ax.add_patch(patches.Circle((it.cx, it.cy), it.r, zorder=z, **_kw(it.style)))
            elif isinstance(it, Rect):
                ax.add_patch(patches.Rectangle((it.x, it.y), it.w, it.h, zorder=z, **_kw(it.style)))
            elif isinstance(it, Text):
                ax.text(
                    it.x,
                    it.y,
                    it.text,
                    fontsize=it.size * 72 / PX_PER_INCH,
                    ha={"start": "left", "middle": "center", "end": "right"}[it.anchor],
                    va="baseline",
                    color=it.fill,
                    fontweight="bold" if it.bold else "normal",
                    fontstyle="italic" if it.italic else "normal",
                    zorder=z,
                )
        flush()
        try:
            fig.savefig(path, dpi=PX_PER_INCH * zoom, facecolor="white")
        except OSError as e:
            raise ConvcalcError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
