"""Turn a scoring request into a DataFrame that fits the model, or say exactly what is wrong.

Accepted bodies, as MLflow's scoring server accepts them:

- JSON ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``
- JSON ``{"dataframe_records": [{"col": value, ...}, ...]}``
- JSON ``{"instances": [...]}`` or ``{"inputs": ...}``: rows as objects or lists,
  or one object of columns
- CSV (``Content-Type: text/csv``) with a header row

with an optional ``"params"`` object. The frame is then checked against the
version's signature: missing columns, values that are not numbers where numbers
are expected, and a wrong number of features are 400 errors that name the
column; extra columns are dropped.
"""

from __future__ import annotations

import io
from typing import Any

from app.serving.errors import BadInput

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_NUMERIC_TYPES = {
    "number",
    "double",
    "float",
    "long",
    "integer",
    "int",
    "float32",
    "float64",
    "double32",
    "int32",
    "int64",
    "tensor(float)",
    "tensor(double)",
}


def parse_body(body: bytes, content_type: str) -> tuple[Any, dict[str, Any]]:
    """(a DataFrame, params) from a request body."""
    import pandas as pd

    if not body.strip():
        raise BadInput(
            "the request body is empty; send JSON such as "
            '{"dataframe_split": {"columns": [...], "data": [[...]]}} or CSV'
        )
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in {"text/csv", "application/csv"}:
        try:
            return pd.read_csv(io.BytesIO(body)), {}
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise BadInput(f"the CSV body cannot be read: {exc}") from None
    if kind not in {"application/json", "", "application/x-www-form-urlencoded"}:
        raise BadInput(
            f"unsupported Content-Type {kind!r}; use application/json or text/csv", status=415
        )
    import orjson

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadInput("the JSON body must be an object with one of: " + ", ".join(FORMATS))
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise BadInput("'params' must be a JSON object")
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        raise BadInput(
            "the JSON body must have exactly one of "
            + ", ".join(FORMATS)
            + (
                f" (found {', '.join(present)})"
                if present
                else f" (found {', '.join(document) or 'none'})"
            )
        )
    key = present[0]
    return _frame(key, document[key]), params


def _frame(key: str, value: Any) -> Any:
    try:
        if key == "dataframe_split":
            return _split(value)
        if key == "dataframe_records":
            return _records(value)
        return _instances(key, value)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"'{key}' cannot be read as a table: {exc}") from None


def _split(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, dict) or "data" not in value:
        raise BadInput("'dataframe_split' needs 'columns' and 'data'")
    data = value["data"]
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise BadInput("'dataframe_split.data' must be a list of rows (lists)")
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise BadInput("'dataframe_split.columns' must be a list of names")
    if columns is not None:
        lengths = {len(r) for r in data}
        if lengths and lengths != {len(columns)}:
            raise BadInput(f"every row must have {len(columns)} values, one per column")
    return pd.DataFrame(data, columns=columns)


def _records(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadInput("'dataframe_records' must be a list of objects")
    return pd.DataFrame.from_records(value)


def _instances(key: str, value: Any) -> Any:
    import pandas as pd

    if isinstance(value, dict):
        return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return pd.DataFrame.from_records(value)
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        return pd.DataFrame(value)
    if isinstance(value, list) and value:
        return pd.DataFrame([value])  # one row given as a flat list
    raise BadInput(f"'{key}' must be a list of rows or an object of columns")


def fit_to_signature(frame: Any, signature: dict[str, Any] | None) -> Any:
    """The frame with the signature's columns, in its order, as numbers where it says so."""

    if frame.empty or len(frame.index) == 0:
        raise BadInput("the input has no rows")
    if not signature:
        return frame
    inputs = [i for i in signature.get("inputs") or [] if isinstance(i, dict)]
    named = [i for i in inputs if i.get("name")]
    tensor_inputs = [i for i in inputs if i.get("shape") is not None]
    if len(tensor_inputs) == 1 and len(inputs) == 1:
        return _fit_tensor(frame, tensor_inputs[0])
    if named and all(isinstance(c, str) for c in frame.columns):
        wanted = [str(i["name"]) for i in named]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise BadInput(
                "missing column(s): " + ", ".join(missing) + "; expected " + ", ".join(wanted)
            )
        frame = frame[wanted]
        converted = {
            str(spec["name"]): _numeric(frame[str(spec["name"])], str(spec["name"]))
            for spec in named
            if str(spec.get("type", "")).lower() in _NUMERIC_TYPES
            and not _is_number_column(frame[str(spec["name"])])
        }
        return frame.assign(**converted) if converted else frame
    count = signature.get("n_features") or (len(named) if named else None)
    if count is not None and frame.shape[1] != count:
        raise BadInput(f"the model expects {count} features per row, got {frame.shape[1]}")
    if named:
        frame = frame.set_axis([str(i["name"]) for i in named], axis=1)
    return frame.apply(lambda c: _numeric(c, str(c.name))) if count else frame


def _fit_tensor(frame: Any, spec: dict[str, Any]) -> Any:
    shape = spec.get("shape") or []
    width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    if width is not None and frame.shape[1] != width:
        raise BadInput(
            f"input {spec.get('name')!r} takes {width} values per row, got {frame.shape[1]}"
        )
    return frame.apply(lambda c: _numeric(c, str(c.name)))


def _is_number_column(column: Any) -> bool:
    kind = column.dtype.kind
    return kind in "iuf"


def _numeric(column: Any, name: str) -> Any:
    import pandas as pd

    if _is_number_column(column):
        return column
    converted = pd.to_numeric(column, errors="coerce")
    bad = column[converted.isna() & column.notna()]
    if len(bad):
        raise BadInput(f"column {name!r} must hold numbers; got {bad.iloc[0]!r}")
    return converted
