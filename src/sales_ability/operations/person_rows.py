"""What a person looks like inside a project's files, and the same files without them.

The website's ids are 16 random characters, so a file that holds one names that person: a path whose folder or
stem is the id is theirs, a Parquet, CSV or JSON file holding the id has rows of theirs, which
``rewrite_without`` drops (``sales_ability.operations.forget`` uses both on every DVC object and MLflow artifact).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from sales_ability.errors import SalesAbilityError

INSPECTED = (".parquet", ".csv", ".json")  # files whose content can name a person (and be rewritten without them)


class ForgetError(SalesAbilityError):
    """A person cannot be forgotten as asked (named in the message); the request stays pending."""


def names_person(relpath: tuple[str, ...] | PurePosixPath, person_id: str) -> bool:
    """A path whose folder or file stem is the person's id: their own recording, strip or sheet."""
    parts = relpath.parts if isinstance(relpath, PurePosixPath) else relpath
    return any(part == person_id or part.split(".", 1)[0] == person_id for part in parts)


def holds_person(path: Path, person_id: str, kind: str | None = None) -> bool:
    """Whether a file names the person; ``kind`` is its suffix when the path has none (a DVC object). A Parquet
    file is read (its strings are encoded), any other searched for the id's bytes."""
    if (kind or path.suffix) == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        strings = [f.name for f in schema if str(f.type) in ("string", "large_string")]
        if not strings:
            return False
        table = pq.read_table(path, columns=strings)
        return any(pc.any(pc.match_substring(table[c], person_id)).as_py() for c in strings)
    return person_id.encode() in path.read_bytes()


def _scrub_json(value: object, person_id: str) -> object:
    """``value`` without the person: list items naming them dropped, and in a columnar dict (a calibration set:
    ``participant_id`` beside parallel lists) their positions dropped from every list of the same length."""
    if isinstance(value, dict):
        people = value.get("participant_id")
        if isinstance(people, list) and any(isinstance(p, str) and person_id in p for p in people):
            keep = [i for i, p in enumerate(people) if not (isinstance(p, str) and person_id in p)]
            value = _drop_positions(value, len(people), keep)
        return {k: _scrub_json(v, person_id) for k, v in value.items()
                if not (isinstance(v, str) and person_id in v) and person_id not in str(k)}
    if isinstance(value, list):
        return [_scrub_json(v, person_id) for v in value if not _mentions(v, person_id)]
    return value


def _drop_positions(columns: dict, length: int, keep: list[int]) -> dict:
    out = {}
    for k, v in columns.items():
        if isinstance(v, list) and len(v) == length:
            out[k] = [v[i] for i in keep]
        elif isinstance(v, dict) and all(isinstance(x, list) and len(x) == length for x in v.values()):
            out[k] = {kk: [x[i] for i in keep] for kk, x in v.items()}
        elif k == "n" and v == length:
            out[k] = len(keep)
        else:
            out[k] = v
    return out


def _mentions(value: object, person_id: str) -> bool:
    """A list item naming the person: a string holding the id, or a row (list or flat dict) with such a value."""
    if isinstance(value, str):
        return person_id in value
    if isinstance(value, list):
        return any(isinstance(v, str) and person_id in v for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, str) and person_id in v for v in value.values())
    return False


def rewrite_without(src: Path, dest: Path, person_id: str) -> None:
    """Write ``src`` without the person's rows to ``dest``, in the format ``dest``'s suffix names (``src`` may be
    a DVC object, with no suffix).

    Raises:
        ForgetError: the rewritten file still names them (it is not written).
    """
    kind = dest.suffix
    if kind == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(src).metadata
        compression = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups else "zstd"
        table = pq.read_table(src)
        keep = None
        for f in table.schema:
            if str(f.type) in ("string", "large_string"):
                mask = pc.invert(pc.fill_null(pc.match_substring(table[f.name], person_id), False))
                keep = mask if keep is None else pc.and_(keep, mask)
        pq.write_table(table if keep is None else table.filter(keep), dest,
                       compression=None if compression == "uncompressed" else compression)
    elif kind == ".csv":
        import pandas as pd

        frame = pd.read_csv(src, dtype=str, keep_default_na=False)
        rows = ~frame.apply(lambda col: col.str.contains(person_id, regex=False)).any(axis=1)
        frame[rows].to_csv(dest, index=False)
    elif kind == ".json":
        text = json.dumps(_scrub_json(json.loads(src.read_text()), person_id), indent=2)
        dest.write_text(text + "\n")
    else:
        raise ForgetError(f"{dest.name}: no rewrite for this kind of file")
    if holds_person(dest, person_id):
        dest.unlink()
        raise ForgetError(f"{dest.name}: still names the person after the rewrite; remove it by hand and rerun")
