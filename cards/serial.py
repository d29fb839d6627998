"""Neutral cards to plain JSON and back, so a card built now can wait in the outbox and be sent later."""

from __future__ import annotations

from typing import Any

from cards.model import Button, Card, Confirm, Fact, Image, Table, Tone


def card_to_json(card: Card) -> dict[str, Any]:
    return {
        "title": card.title,
        "tone": card.tone.value,
        "text": card.text,
        "facts": [[f.label, f.value] for f in card.facts],
        "tables": [
            {"columns": list(t.columns), "rows": [list(r) for r in t.rows], "title": t.title, "more": t.more}
            for t in card.tables
        ],
        "images": [[i.url, i.alt] for i in card.images],
        "buttons": [_button(b) for b in card.buttons],
        "footer": card.footer,
        "summary": card.summary,
        "key": card.key,
        "badge": card.badge,
    }


def _button(b: Button) -> dict[str, Any]:
    out: dict[str, Any] = {"label": b.label, "action": b.action, "payload": dict(b.payload), "style": b.style}
    if b.url:
        out["url"] = b.url
    if b.confirm is not None:
        c = b.confirm
        out["confirm"] = [c.title, c.text, c.ok, c.dismiss]
    return out


def card_from_json(data: dict[str, Any]) -> Card:
    return Card(
        title=str(data.get("title", "")),
        tone=Tone(data.get("tone", "neutral")),
        text=str(data.get("text", "")),
        facts=tuple(Fact(str(a), str(b)) for a, b in data.get("facts", ())),
        tables=tuple(
            Table(
                columns=tuple(t["columns"]),
                rows=tuple(tuple(r) for r in t["rows"]),
                title=t.get("title", ""),
                more=t.get("more", ""),
            )
            for t in data.get("tables", ())
        ),
        images=tuple(Image(str(u), str(a)) for u, a in data.get("images", ())),
        buttons=tuple(
            Button(
                label=b["label"],
                action=b.get("action", ""),
                payload=dict(b.get("payload", {})),
                style=b.get("style", "default"),
                confirm=Confirm(*b["confirm"]) if b.get("confirm") else None,
                url=b.get("url"),
            )
            for b in data.get("buttons", ())
        ),
        footer=str(data.get("footer", "")),
        summary=str(data.get("summary", "")),
        key=data.get("key"),
        badge=str(data.get("badge", "")),
    )
