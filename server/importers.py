"""Parse item uploads: a JSON body, JSON Lines, or CSV (raw body or a multipart file)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import ValidationError

from alloop.errors import Invalid
from alloop.schemas import ItemIn, ItemsImport

__all__ = ["parse_items", "format_for"]

_RESERVED = {"id", "text", "label", "meta", "features", "cost", "image", "image_url", "image_path"}


def format_for(content_type: str, filename: str | None = None) -> str:
    """'json', 'jsonl' or 'csv' from a file name's extension or a content type."""
    name = (filename or "").lower()
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".csv", "csv"), (".json", "json")):
        if name.endswith(ext):
            return fmt
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines"):
        return "jsonl"
    if kind in ("text/csv", "application/csv"):
        return "csv"
    if kind in ("application/json", ""):
        return "json"
    raise Invalid(f"unsupported content type {kind!r}; send application/json, application/x-ndjson or text/csv")


def _item(raw: Any, where: str) -> ItemIn:
    try:
        return ItemIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{where}{'.' + loc if loc else ''}: {first['msg']}") from None


def _jsonl(text: str) -> list[ItemIn]:
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise Invalid(f"line {n}: not valid JSON ({exc.msg})") from None
            items.append(_item(raw, f"line {n}"))
    return items


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"{where}: {value!r} is not a number") from None


def _csv_row(row: dict[str, str], feature_columns: list[str], where: str) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": row.get("id")}
    for key in ("text", "label", "image", "image_url", "image_path"):
        if row.get(key) not in (None, ""):
            raw[key] = row[key]
    if row.get("cost") not in (None, ""):
        raw["cost"] = _number(row["cost"], f"{where}, column 'cost'")
    if row.get("meta"):
        try:
            raw["meta"] = json.loads(row["meta"])
        except json.JSONDecodeError:
            raise Invalid(f"{where}: meta is not valid JSON") from None
    if row.get("features"):
        cell = row["features"].strip()
        parts = json.loads(cell) if cell.startswith("[") else cell.replace(",", " ").split()
        raw["features"] = [_number(str(p), where) for p in parts]
    elif feature_columns:
        raw["features"] = [_number(row[c], f"{where}, column {c!r}") for c in feature_columns]
    return raw


def _csv(text: str) -> list[ItemIn]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise Invalid("CSV needs a header row with an 'id' column")
    feature_columns = [c for c in reader.fieldnames if c not in _RESERVED]
    return [
        _item(_csv_row(row, feature_columns, f"row {n}"), f"row {n}")
        for n, row in enumerate(reader, start=2)
    ]


def parse_items(body: bytes, fmt: str) -> tuple[list[ItemIn], str | None]:
    """Items from a body, and the split it names (JSON bodies only; None otherwise)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the upload is not UTF-8 text") from None
    if fmt == "jsonl":
        return _jsonl(text), None
    if fmt == "csv":
        return _csv(text), None

    try:
        parsed = ItemsImport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(f"{loc}: {first['msg']}") from None
    return parsed.items, parsed.split
