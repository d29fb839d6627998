"""A progress line's top-level `text` (notifications, screen readers) is escaped for Slack like its blocks:
a file named `<!channel> & <@U123>.jsonl` must not ping the channel or mention a user."""

from __future__ import annotations

from adapters.slack_interim import MAX_LINE, interim_message


def test_progress_text_is_escaped() -> None:
    message = interim_message("Checking <!channel> & <@U123>.jsonl …")
    assert message["text"] == "⏳ Checking &lt;!channel&gt; &amp; &lt;@U123&gt;.jsonl …"
    (element,) = message["blocks"][0]["elements"]
    assert "<!channel>" not in element["text"] and "<@U123>" not in element["text"]


def test_a_long_progress_line_is_cut_before_escaping() -> None:
    text = interim_message("&" * 2000)["text"]
    assert text.startswith("⏳ &amp;") and text.endswith("…")
    assert "&amp;" * (MAX_LINE // 2) in text
    assert not text.removesuffix("…").endswith(("&", "&a", "&am", "&amp"))
