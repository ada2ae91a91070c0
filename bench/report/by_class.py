"""The per-class table: a metric by normal class for each method, with its cost, device and paper.

One row per (dataset, protocol, method label): the metric's mean over seeds
for every class (or test set), the mean over classes, the seconds a cell
took (fit + score), the device it ran on, and the figure the method's paper
published for the same setup, so a reader sees where each row stands without
leaving the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import schema
from bench.data.protocol import protocol_info
from bench.errors import BenchError
from bench.report.missing_rows import KEYS
from bench.report.paper_figures import mean_figure

EXTRAS = ["s / cell", "device", "published", "source"]
COST_NOTE = (
    "s / cell: fit + score seconds, mean over cells (a frozen extractor's one-off pass over the "
    "dataset is not in it: every cell shares it)."
)

DIGEST = schema.DATA_DIGEST  # the tag with a cell's dataset content digest
PARTIAL_NOTE = "A blank class was not run for that row, whose mean is over the classes it ran."
UNEVEN_NOTE = (
    "Seeds that ran different classes: {rows}. A class is the mean over the seeds that ran it, a "
    "row's mean the mean over its classes, and its ± over the seeds that ran every class (none from "
    "fewer than two)."
)


def latest_per_cell(cells: pd.DataFrame, current: dict[str, str] | None = None) -> pd.DataFrame:
    """One run per cell_key (the newest), so a rerun never counts a cell twice; and only the runs of
    each dataset's current copy (``current_copies``), so an edited dataset's old numbers never show.

    Methods run with ``--set`` overrides are named by their ``method_label``, and protocols run
    with non-default options (``--known``, ``--labels``, ...) by their ``protocol_label``.
    """
    if cells.empty:
        return cells
    cells = cells.sort_values("start_time", ascending=False).drop_duplicates(schema.CELL_KEY)
    cells = cells[~older_copy(cells, current)]
    cells = cells.rename(columns={schema.TUNED_FROM: "tuned_from"})
    if "protocol" in cells:  # the protocol's own name, before labels and versions are added
        cells = cells.assign(protocol_name=cells.get("protocol_name", cells["protocol"]))
    for column in ("method", "protocol"):
        if f"{column}_label" in cells:
            cells = cells.assign(**{column: cells[f"{column}_label"].fillna(cells[column])})
    return cells.assign(protocol=versioned_protocols(cells)) if schema.PROTOCOL_VERSION in cells else cells


def versioned_protocols(cells: pd.DataFrame) -> pd.Series:
    """Each cell's protocol label, with ``@vN`` where its splits were made by another version of the
    protocol than this bench's (an older run, or one imported from another bench), so that cells of
    two versions are never averaged or ranked together."""
    made = cells[schema.PROTOCOL_VERSION].fillna("1").astype(str)
    current = cells["protocol_name"].map(_current_version)
    return cells["protocol"].where(made == current, cells["protocol"] + "@v" + made)


def _current_version(protocol: str) -> str:
    try:
        return str(protocol_info(protocol).version)
    except BenchError:  # a plugin's protocol that is not loaded here: its cells are their own rows
        return "1"


def current_copies(*tables: pd.DataFrame) -> dict[str, str]:
    """Each dataset's current copy: the data digest of its newest cell run ("" before bench had them)."""
    tables = tuple(t for t in tables if len(t))
    if not tables:
        return {}
    runs = pd.concat(tables, ignore_index=True)
    digests = runs.get(DIGEST, pd.Series("", index=runs.index)).fillna("")
    newest = runs.assign(**{DIGEST: digests}).sort_values("start_time", ascending=False)
    return dict(newest.drop_duplicates("dataset")[["dataset", DIGEST]].itertuples(index=False))


def older_copy(cells: pd.DataFrame, current: dict[str, str] | None = None) -> pd.Series:
    """Which runs are of another copy of their dataset than ``current`` (by default, the newest's)."""
    current = current_copies(cells) if current is None else current
    digests = cells.get(DIGEST, pd.Series("", index=cells.index)).fillna("")
    return digests != cells["dataset"].map(current).fillna(digests)


def older_copies_note(cells: pd.DataFrame, current: dict[str, str]) -> str:
    """One line on the runs of older copies of a dataset the store keeps apart ('' when none)."""
    if cells.empty:
        return ""
    older = cells[older_copy(cells, current)].drop_duplicates(schema.CELL_KEY)
    if older.empty:
        return ""
    known = older.get(DIGEST, pd.Series("", index=older.index)).fillna("") != ""
    parts = [
        f"{', '.join(f'{n} of {d}' for d, n in group.groupby('dataset').size().items())} {words}"
        for group, words in (
            (older[known], "read files that have changed since"),
            (older[~known], "predate data digests (run by an earlier bench)"),
        )
        if len(group)
    ]
    return f"This experiment also holds cells kept apart and not shown: {'; '.join(parts)}."


def by_class(cells: pd.DataFrame, metric: str = "auroc", stat: str = "mean") -> pd.DataFrame:
    """``metric`` per (dataset, protocol, method) x class: its mean over seeds, or (``stat="std"``)
    the std over seeds; column ``mean`` is the mean over classes of those means (a class that more
    seeds ran weighs no more than another), or the std over seeds of each seed's mean over classes,
    from the seeds that ran every class of the row (``uneven_note``). The mean table also has the
    columns of ``EXTRAS``."""
    cells = latest_per_cell(cells)
    if cells.empty:
        return pd.DataFrame()
    cells = cells.assign(cls=cells["class"].astype(int), seed=cells["seed"].astype(int))
    per_seed = cells.pivot_table(index=[*KEYS, "seed"], columns="cls", values=metric, aggfunc="mean")
    per_class = per_seed.groupby(level=KEYS)
    overall = per_class.mean().mean(axis=1)
    if stat == "std":
        table = per_class.std(ddof=1)
        table["mean"] = complete_seeds(per_seed).mean(axis=1).groupby(level=KEYS).std(ddof=1)
    else:
        table = per_class.mean()
        table["mean"] = overall
    table.columns = [str(c) for c in table.columns]
    if stat != "std":
        table = table.join(_extras(cells))
    best_first = overall.sort_values(ascending=False).index  # same row order for mean and std
    table = table.reindex(best_first).reset_index().sort_values(["dataset", "protocol"], kind="stable")
    if schema.PRETRAINED in cells:  # methods with outside weights say so in every table
        outside = cells.dropna(subset=[schema.PRETRAINED]).groupby("method")[schema.PRETRAINED].first()
        table["method"] = [f"{m} (pretrained: {outside[m]})" if m in outside else m for m in table["method"]]
    return table


def complete_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """The rows of a (row keys, seed) x class table whose seed ran every class its row ran."""
    ran = per_seed.notna().groupby(level=KEYS).transform("any")
    return per_seed[(per_seed.notna() | ~ran).all(axis=1)]


def uneven_note(cells: pd.DataFrame) -> str:
    """``UNEVEN_NOTE`` naming the rows whose seeds did not all run the same classes ('' when none)."""
    cells = latest_per_cell(cells)
    if cells.empty:
        return ""
    per_seed = cells.pivot_table(
        index=[*KEYS, "seed"], columns="class", values=schema.CELL_KEY, aggfunc="size"
    )
    uneven = per_seed.index.difference(complete_seeds(per_seed).index).droplevel("seed").unique()
    rows = "; ".join(f"{method} ({dataset}, {protocol})" for dataset, protocol, method in uneven)
    return UNEVEN_NOTE.format(rows=rows) if rows else ""


def class_means(cells: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per (dataset, protocol, method): each metric's mean over classes of its mean over seeds, so
    that a class run by more seeds than another weighs no more in the row's figure."""
    return cells.groupby([*KEYS, "class"])[metrics].mean().groupby(level=KEYS).mean()


def _extras(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, protocol, method): seconds a cell, the devices, and the published figure."""
    seconds = cells.get(schema.FIT_SECONDS, np.nan) + cells.get(schema.SCORE_SECONDS, np.nan)
    grouped = cells.assign(seconds=seconds).groupby(KEYS)
    rows = {}
    for key, group in grouped:
        dataset, protocol, method = key
        devices = sorted(group["device"].dropna().unique()) if "device" in group else []
        rows[key] = {
            "s / cell": group["seconds"].mean(),
            "device": ", ".join(devices),
            **_published(method, dataset, protocol),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(KEYS)


def _published(label: str, dataset: str, protocol: str) -> dict[str, str]:
    """The paper's mean figure for this setup (with the settings it was for, when this row ran
    others) and its source."""
    found = mean_figure(label, dataset, protocol)
    if found is None:
        return {"published": "", "source": ""}
    figure, same_setting = found
    words = f"{figure.value:.3f}"
    if figure.setting and not same_setting:
        words += " at " + ", ".join(f"{k}={v}" for k, v in figure.setting)
    return {"published": words, "source": figure.source}


def by_class_markdown(mean: pd.DataFrame, std: pd.DataFrame, uneven: str = "") -> str:
    """The per-class table with ``mean ± std`` over seeds where there are several seeds, and the
    ``uneven_note`` of its cells."""
    if mean.empty:
        return ""
    merged = mean.drop(columns=["source"], errors="ignore")
    scores = [c for c in mean.columns[len(KEYS) :] if c not in EXTRAS]
    for col in scores:
        merged[col] = [
            "" if pd.isna(m) else f"{m:.3f}" + ("" if pd.isna(sd) else f" ± {sd:.3f}")
            for m, sd in zip(mean[col], std[col] if col in std else [np.nan] * len(mean), strict=True)
        ]
    if "s / cell" in merged:
        merged["s / cell"] = ["" if pd.isna(s) else f"{s:.1f}" for s in mean["s / cell"]]
    lines = [table_markdown(merged)]
    if mean[scores].isna().to_numpy().any():
        lines.append(f"\n{PARTIAL_NOTE}\n")
    if uneven:
        lines.append(f"\n{uneven}\n")
    if "s / cell" in merged:
        lines.append(f"\n{COST_NOTE}\n")
    if "source" in mean:
        names = (m.split(" (")[0].split("[")[0] for m in mean["method"])  # each method's figure once
        cited = dict.fromkeys(f"{n}: {s}" for n, s in zip(names, mean["source"], strict=True) if s)
        lines += ["\nPublished: " + "; ".join(cited) + ".\n"] if cited else []
    return "".join(lines)


def table_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """Any flat table as GitHub markdown, floats rounded."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
