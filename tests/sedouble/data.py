"""Load the recorded Stack Exchange data the test double serves.

``data/questions.jsonl`` holds one recorded question per line: the API's
question object plus three bookkeeping fields (``site``, ``_kind``,
``_sources``) that are never served. ``data/sites.json`` holds the ``/sites``
items. See ``data/ATTRIBUTION.md`` for where both come from and their licence.

The files are read once per process and kept as text, so a double can rebuild
fresh, independent question dicts whenever it resets.
"""

import functools
import json
from pathlib import Path
from urllib.parse import urlsplit

DATA_DIR = Path(__file__).resolve().parent / "data"

# Fields of a corpus line that describe the recording, not the question.
INTERNAL_FIELDS = frozenset({"site", "_kind", "_sources"})


class DataError(Exception):
    """The data directory is missing a file or holds inconsistent data."""


@functools.lru_cache(maxsize=4)
def _question_lines(path: Path) -> dict[tuple[str, int], str]:
    """Index the raw lines by ``(site, question_id)``, parsing each once."""
    lines = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                question = json.loads(line)
                lines[question["site"], question["question_id"]] = line
    return lines


@functools.lru_cache(maxsize=4)
def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_sites(data_dir: Path | None = None) -> list[dict]:
    """Return the ``/sites`` items, in the order the API listed them."""
    path = Path(data_dir or DATA_DIR) / "sites.json"
    try:
        return json.loads(_read_text(path))
    except FileNotFoundError as exc:
        raise DataError(f"missing {path.name} in {path.parent}") from exc


def load_questions(data_dir: Path | None = None) -> dict[str, list[dict]]:
    """Return fresh question dicts grouped by ``api_site_parameter``.

    The dicts keep the recorded key order, which is the order the API emits,
    and still carry the internal fields; callers strip them before serving.
    """
    by_site: dict[str, list[dict]] = {}
    for (site, _), line in _lines(data_dir).items():
        by_site.setdefault(site, []).append(json.loads(line))
    return by_site


def load_question(data_dir: Path | None, site: str, question_id: int) -> dict | None:
    """Return a fresh copy of one recorded question, or None if there is none."""
    line = _lines(data_dir).get((site, question_id))
    return None if line is None else json.loads(line)


def _lines(data_dir: Path | None) -> dict[tuple[str, int], str]:
    path = Path(data_dir or DATA_DIR) / "questions.jsonl"
    try:
        return _question_lines(path)
    except FileNotFoundError as exc:
        raise DataError(f"missing {path.name} in {path.parent}") from exc


def site_names(sites: list[dict]) -> dict[str, str]:
    """Map every accepted spelling of a site to its ``api_site_parameter``.

    The API takes the parameter itself (``beer``) and also the site's host
    (``beer.stackexchange.com``), including the hosts listed as aliases.
    """
    names: dict[str, str] = {}
    for site in sites:
        param = site["api_site_parameter"]
        names[param.lower()] = param
        for url in [site.get("site_url", ""), *site.get("aliases", [])]:
            host = urlsplit(url).hostname
            if host:
                names.setdefault(host.lower(), param)
    return names


def check_consistency(sites: list[dict], questions: dict[str, list[dict]]) -> None:
    """Fail early when a question belongs to a site ``/sites`` does not list."""
    known = {site["api_site_parameter"] for site in sites}
    missing = sorted(set(questions) - known)
    if missing:
        raise DataError(f"sites.json lacks entries for: {', '.join(missing)}")
