"""The mutable question set behind one test double.

Tests change it between requests: edit a question's fields, add one, hold one
back for a while, or delete it. ``reset`` brings back the recorded data.

The store does no locking; the server serialises access with its own lock.
"""

import html
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .data import (
    INTERNAL_FIELDS,
    check_consistency,
    load_question,
    load_questions,
    load_sites,
    site_names,
)

# The order in which the API emits question fields (recorded responses agree).
# Edited or added questions are re-sorted into it so they look like the rest.
FIELD_ORDER = (
    "tags",
    "owner",
    "is_answered",
    "view_count",
    "bounty_amount",
    "bounty_closes_date",
    "closed_date",
    "protected_date",
    "accepted_answer_id",
    "answer_count",
    "community_owned_date",
    "score",
    "locked_date",
    "last_activity_date",
    "creation_date",
    "last_edit_date",
    "question_id",
    "content_license",
    "link",
    "closed_reason",
    "migrated_from",
    "migrated_to",
    "title",
    "body",
)
_FIELD_RANK = {name: rank for rank, name in enumerate(FIELD_ORDER)}

# A word is a run of letters or digits, keeping a trailing "#" or "+" so that
# "c#" and "c++" stay searchable.
_WORD = re.compile(r"[^\W_]+[#+]*")
_TAG = re.compile(r"<[^>]*>")


def words(text: str) -> frozenset[str]:
    """Return the distinct lowercase words of ``text``."""
    return frozenset(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Searchable:
    """The text of one question, decoded and lowercased once for matching."""

    title: str
    title_words: frozenset[str]
    tags: frozenset[str]
    tag_words: frozenset[str]
    body: str | None
    body_words: frozenset[str]

    @classmethod
    def of(cls, question: dict) -> "Searchable":
        title = html.unescape(question.get("title", "")).lower()
        tags = frozenset(tag.lower() for tag in question.get("tags", []))
        tag_words = frozenset().union(tags, *(words(tag) for tag in tags))

        # Bodies are HTML: match on the visible text, not on markup.
        body = question.get("body")
        if body is not None:
            body = html.unescape(_TAG.sub(" ", body)).lower()
        return cls(title, words(title), tags, tag_words, body, words(body or ""))


class QuestionStore:
    """Questions per site, with the edits tests have made to them."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._data_dir = data_dir
        self.sites = load_sites(data_dir)
        self._names = site_names(self.sites)
        self._hosts = {s["api_site_parameter"]: s.get("site_url") for s in self.sites}
        self._load()

    def reset(self) -> None:
        """Drop every edit and serve the recorded questions again."""
        # Tests reset between every case, so restore only what was changed
        # and keep the matching index of everything else.
        for site, question_id in self._changed:
            recorded = load_question(self._data_dir, site, question_id)
            if recorded is None:
                self._questions[site].pop(question_id, None)
            else:
                self._questions[site][question_id] = recorded
            self._index.pop((site, question_id), None)
        self._changed.clear()
        self._hidden.clear()

    def _load(self) -> None:
        loaded = load_questions(self._data_dir)
        check_consistency(self.sites, loaded)
        self._questions: dict[str, dict[int, dict]] = {
            site["api_site_parameter"]: {} for site in self.sites
        }
        for site, questions in loaded.items():
            self._questions[site] = {q["question_id"]: q for q in questions}
        self._changed: set[tuple[str, int]] = set()
        self._hidden: set[tuple[str, int]] = set()
        self._index: dict[tuple[str, int], Searchable] = {}

    def resolve_site(self, name: str) -> str | None:
        """Return the ``api_site_parameter`` for a site name or host."""
        return self._names.get(name.strip().lower())

    def visible(self, site: str) -> list[dict]:
        """Return the questions of ``site`` that are currently served."""
        return [
            question
            for qid, question in self._questions[site].items()
            if (site, qid) not in self._hidden
        ]

    def searchable(self, site: str, question: dict) -> Searchable:
        """Return the cached matching view of a question."""
        key = (site, question["question_id"])
        if key not in self._index:
            self._index[key] = Searchable.of(question)
        return self._index[key]

    def get(self, site: str, question_id: int) -> dict:
        """Return a stored question, served or held back.

        Raises:
            KeyError: the site has no question with that id.
        """
        try:
            return self._questions[site][question_id]
        except KeyError:
            raise KeyError(f"no question {question_id} on {site}") from None

    def update(self, site: str, question_id: int, fields: dict) -> dict:
        """Change fields of a question; a value of None removes the field."""
        bad = (INTERNAL_FIELDS | {"question_id"}) & set(fields)
        if bad:
            raise ValueError(f"cannot set {', '.join(sorted(bad))}")

        question = self.get(site, question_id)
        self._changed.add((site, question_id))
        for name, value in fields.items():
            if value is None:
                question.pop(name, None)
            else:
                question[name] = value
        self._reorder(site, question)
        return question

    def add(self, site: str, item: dict) -> dict:
        """Add a question, filling the fields every served question has."""
        question_id = item.get("question_id")
        if not isinstance(question_id, int) or isinstance(question_id, bool):
            raise ValueError("a new question needs an integer question_id")
        if question_id in self._questions[site]:
            raise ValueError(f"question {question_id} already exists on {site}")

        # Sorting and filtering read these, so a sparse item still behaves.
        now = int(time.time())
        question = {
            "tags": [],
            "owner": {"user_type": "does_not_exist"},
            "is_answered": False,
            "view_count": 0,
            "answer_count": 0,
            "score": 0,
            "creation_date": item.get("creation_date", now),
            "last_activity_date": item.get("creation_date", now),
            "link": f"{self._hosts.get(site) or ''}/questions/{question_id}",
            "title": "",
        }
        question.update(item)
        self._questions[site][question_id] = question
        self._changed.add((site, question_id))
        self._reorder(site, question)
        return question

    def hide(self, site: str, question_id: int) -> None:
        """Stop serving a question until ``reveal`` is called."""
        self.get(site, question_id)
        self._hidden.add((site, question_id))

    def reveal(self, site: str, question_id: int) -> None:
        """Serve a held-back question again."""
        self.get(site, question_id)
        self._hidden.discard((site, question_id))

    def remove(self, site: str, question_id: int) -> None:
        """Delete a question; only ``reset`` brings it back."""
        self.get(site, question_id)
        self._changed.add((site, question_id))
        del self._questions[site][question_id]
        self._hidden.discard((site, question_id))
        self._index.pop((site, question_id), None)

    def _reorder(self, site: str, question: dict) -> None:
        # Rebuild in place so callers holding the dict see the new order too.
        ordered = sorted(
            question.items(), key=lambda kv: _FIELD_RANK.get(kv[0], len(_FIELD_RANK))
        )
        question.clear()
        question.update(ordered)
        self._index.pop((site, question["question_id"]), None)


def served_fields(question: dict, with_body: bool) -> dict:
    """Return a question as the API shows it, without bookkeeping fields."""
    return {
        name: value
        for name, value in question.items()
        if name not in INTERNAL_FIELDS and (with_body or name != "body")
    }
