"""Cards wait in the outbox as JSON: every field of the neutral model survives the round trip."""

from __future__ import annotations

import json

from cards.jobs import job_card, job_list_card
from cards.model import Button, Card, Confirm, Fact, Image, Table, Tone
from cards.serial import card_from_json, card_to_json
from cards.views import JobView


def _roundtrip(card: Card) -> Card:
    return card_from_json(json.loads(json.dumps(card_to_json(card))))


def test_every_field_survives() -> None:
    card = Card(
        title="t",
        tone=Tone.ERROR,
        text="x",
        facts=(Fact("a", "b"),),
        tables=(Table(("A",), (("1",),), row_actions=(Button("Open", "job.show", {"job": "ftjob-1"}),)),),
        images=(Image("https://example.com/a.png", "alt"),),
        buttons=(Button("Go", "x.y", {"k": "v"}, style="danger", confirm=Confirm("Sure?", "Really")),),
        footer="f",
        summary="s",
        key="job:1",
        badge="b",
    )
    assert _roundtrip(card) == card


def test_built_cards_survive() -> None:
    job = JobView(id="ftjob-1", model="gpt-4o-mini", status="running")
    for card in (job_card(job, "Updated now"), job_list_card([job])):
        assert _roundtrip(card) == card
