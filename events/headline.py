"""One-line human headlines for events, built from type, subject and data alone (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from events.vocabulary import SUBJECT_RE

MAX_HEADLINE: Final = 200  # characters; longer headlines end in an ellipsis
_SMALL_WORDS: Final = frozenset(
    {"a", "an", "and", "at", "de", "for", "in", "of", "on", "the", "to"}
)
_SPACE: Final = re.compile(r"\s+")
_KIND_NOUNS: Final = {
    "state": "a state",
    "organization": "an organization",
    "person": "a person",
    "media": "a media outlet",
    "other": "a party",
}
_STANCE_PHRASES: Final = {
    "supports": "supports {}",
    "opposes": "opposes {}",
    "demands": "makes demands on {}",
    "rejects": "rejects {}",
    "considering": "considers {}",
    "offers": "makes an offer on {}",
    "conditional": "sets conditions on {}",
    "neutral": "is neutral on {}",
}


def name_of(subject: Any) -> str:
    """A readable name from a subject id: `party/european-union` -> `European Union`.

    Only the slug is known here (no lookup), so words are capitalised, two-letter words
    are taken for abbreviations (`us` -> `US`), and runs of numbers keep their hyphens
    (`moscow-2025-12-02` -> `Moscow 2025-12-02`).
    """
    if not isinstance(subject, str) or not SUBJECT_RE.match(subject):
        return str(subject) if subject is not None else "unknown"
    words: list[str] = []
    for i, word in enumerate(subject.split("/", 1)[1].split("-")):
        if word.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "-" + word
        elif word in _SMALL_WORDS and i > 0:
            words.append(word)
        elif len(word) == 2 and word.isalpha():
            words.append(word.upper())
        else:
            words.append(word[:1].upper() + word[1:])
    return " ".join(words)


def _names(values: Any) -> str:
    """`Ukraine and European Union`, `A, B and C`."""
    names = [name_of(v) for v in values] if isinstance(values, list) else []
    if len(names) < 2:
        return "".join(names) or "nobody"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _text(value: Any) -> str | None:
    """A non-empty string value, or None."""
    return value if isinstance(value, str) and value.strip() else None


def _party_registered(subject: Any, d: dict[str, Any]) -> str:
    noun = _KIND_NOUNS.get(d.get("kind", ""), "a party")
    role = _text(d.get("role"))
    name = _text(d.get("name")) or name_of(subject)
    return f"{name} registered as {noun}" + (f" ({role})" if role else "")


def _plan_proposed(subject: Any, d: dict[str, Any]) -> str:
    title = _text(d.get("title")) or name_of(subject)
    kind = d.get("kind", "plan")
    verb = "proposes" if kind in ("plan", "counterproposal", "framework") else "adopts"
    out = f"{name_of(d.get('sponsor'))} {verb} {title}"
    return out + (f" ({d['points']} points)" if isinstance(d.get("points"), int) else "")


def _plan_revised(subject: Any, d: dict[str, Any]) -> str:
    who = f"{name_of(d['by'])} revises" if d.get("by") else "Revision of"
    out = f"{who} {name_of(subject)}"
    details = []
    if isinstance(d.get("points"), int):
        details.append(f"now {d['points']} points")
    if _text(d.get("title")):
        details.append(f"retitled {d['title']}")
    if d.get("provisions_added"):
        details.append(f"+{len(d['provisions_added'])} provisions")
    if d.get("provisions_removed"):
        details.append(f"-{len(d['provisions_removed'])} provisions")
    return out + (f" ({', '.join(details)})" if details else "")


def _plan_classified(subject: Any, d: dict[str, Any]) -> str:
    out = f"{name_of(d.get('ordered_by'))} orders {name_of(subject)} classified"
    withheld = d.get("withheld_from")
    return out + (f", withheld from {_names(withheld)}" if withheld else "")


def _plan_presented(subject: Any, d: dict[str, Any]) -> str:
    out = f"{name_of(d.get('by'))} presents {name_of(subject)} to {_names(d.get('to'))}"
    return out + (f" at {name_of(d['meeting'])}" if d.get("meeting") else "")


def _position_stated(subject: Any, d: dict[str, Any]) -> str:
    phrase = _STANCE_PHRASES.get(d.get("stance", ""), "takes a position on {}")
    who = name_of(subject)
    if d.get("speaker"):
        who += f" ({name_of(d['speaker'])})"
    return f"{who} {phrase.format(name_of(d.get('on')))}"


def _meeting_scheduled(subject: Any, d: dict[str, Any]) -> str:
    title = _text(d.get("title")) or name_of(subject)
    out = f"{title} scheduled for {d.get('starts', 'a date not given')}"
    return out + (f" in {d['location']}" if _text(d.get("location")) else "")


def _meeting_rescheduled(subject: Any, d: dict[str, Any]) -> str:
    out = f"{name_of(subject)} moved to {d.get('starts', 'a date not given')}"
    return out + (f" in {d['location']}" if _text(d.get("location")) else "")


def _with_detail(text: str, detail: Any) -> str:
    return f"{text}: {detail}" if _text(detail) else text


_BUILDERS: Final[dict[str, Callable[[Any, dict[str, Any]], str]]] = {
    "party.registered": _party_registered,
    "plan.proposed": _plan_proposed,
    "plan.revised": _plan_revised,
    "plan.classified": _plan_classified,
    "plan.declassified": lambda s, d: f"{name_of(d.get('by'))} declassifies {name_of(s)}",
    "plan.presented": _plan_presented,
    "plan.superseded": lambda s, d: f"{name_of(s)} superseded by {name_of(d.get('by_plan'))}",
    "position.stated": _position_stated,
    "meeting.scheduled": _meeting_scheduled,
    "meeting.rescheduled": _meeting_rescheduled,
    "meeting.held": lambda s, d: _with_detail(f"{name_of(s)} held", d.get("outcome")),
    "meeting.cancelled": lambda s, d: _with_detail(f"{name_of(s)} cancelled", d.get("reason")),
    "event.retracted": lambda s, d: _with_detail(
        f"Event {d.get('event')} retracted", d.get("reason")
    ),
    "event.corrected": lambda s, d: f"Event {d.get('event')} corrected",
}


def _custom(type_: str, subject: Any, data: Any) -> str:
    """`x-press-briefing` -> `Press briefing`, with the data's own headline when it has one."""
    label = type_.removeprefix("x-").replace("-", " ").replace(".", " ").replace("_", " ")
    label = label[:1].upper() + label[1:] if label.strip() else "Note"
    if subject is not None:
        label += f" ({name_of(subject)})"
    own: Any = data
    if isinstance(data, dict):
        own = next(
            (data[k] for k in ("headline", "title", "summary", "text") if _text(data.get(k))), None
        )
    return _with_detail(label, own)


def headline(type_: str, subject: str | None, data: Any) -> str:
    """A one-line headline for an event of `type_` about `subject` carrying `data`.

    Total: any type (SPEC §3 or `x-`) and any data give a headline, never an exception.
    """
    build = _BUILDERS.get(type_)
    if build is None:
        text = _custom(type_, subject, data)
    else:
        text = build(subject, data if isinstance(data, dict) else {})
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_HEADLINE:
        text = text[: MAX_HEADLINE - 1].rstrip() + "…"
    return text
