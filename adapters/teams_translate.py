"""Bot Framework Activity <-> the neutral model: pure functions, no I/O.

Inbound: who (`User`, with the Entra object id and tenant), where (`Conversation`, with the serialised
`ConversationReference` for proactive sends later), what (a `Command` from the text with the bot mention
stripped, or an `Action` from an `Action.Submit` value or an `adaptiveCard/action` invoke). Outbound: a
neutral `Card` as a message Activity with an Adaptive Card attachment, and the Universal Actions invoke
response bodies. Every botbuilder import stays in `adapters/teams*` (the Python SDK is archived upstream).
"""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference
from botbuilder.schema import Attachment as BfAttachment

from bot.grammar import ParsedText
from bot.model import Action, Attachment, Command, Conversation, ConversationKind, MessageRef, Platform, User
from cards.markup import TEAMS_TRIGGER, ac_trigger, cut, to_plain
from cards.model import Card
from cards.payload import unpack_teams
from cards.render_teams import CONTENT_TYPE, render_adaptive

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
INVOKE_EXECUTE = "adaptiveCard/action"
# Universal Actions invoke response types (`statusCode` + `type` + `value`).
RESPONSE_CARD = CONTENT_TYPE
RESPONSE_MESSAGE = "application/vnd.microsoft.activity.message"
RESPONSE_ERROR = "application/vnd.microsoft.error"

_KINDS: dict[str, ConversationKind] = {"personal": "personal", "channel": "channel", "groupChat": "group"}
_AT_TAG = re.compile(r"<at>[^<]*</at>", re.IGNORECASE)


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def conversation_kind(activity: Activity) -> ConversationKind:
    """personal / channel / group from `conversation.conversationType` (the Emulator sends only `isGroup`)."""
    conv = activity.conversation
    kind = _KINDS.get(getattr(conv, "conversation_type", None) or "")
    if kind:
        return kind
    return "group" if conv is not None and conv.is_group else "personal"


def tenant_of(activity: Activity, raw: Mapping[str, Any]) -> str | None:
    """`channelData.tenant.id`, else `conversation.tenantId` (read raw: the SDK maps it from `tenantID`)."""
    tenant = _dict(_dict(activity.channel_data).get("tenant")).get("id")
    if not tenant:
        tenant = _dict(raw.get("conversation")).get("tenantId") or getattr(
            activity.conversation, "tenant_id", None
        )
    return str(tenant) if tenant else None


def user_of(activity: Activity, raw: Mapping[str, Any]) -> User:
    sender = activity.from_property
    return User(
        id=(sender.id if sender else "") or "",
        name=(sender.name if sender else "") or "",
        aad_object_id=sender.aad_object_id if sender else None,
        tenant_id=tenant_of(activity, raw),
    )


def reference_of(activity: Activity, tenant: str | None) -> dict[str, Any]:
    """The activity's `ConversationReference` as a JSON-able dict, for `continue_conversation` later."""
    reference = TurnContext.get_conversation_reference(activity)
    if tenant and reference.conversation is not None and not reference.conversation.tenant_id:
        reference.conversation.tenant_id = tenant
    serialised: dict[str, Any] = reference.serialize()
    return serialised


def load_reference(reference: Mapping[str, Any], conversation_id: str | None = None) -> ConversationReference:
    """A stored reference back as the SDK object, optionally aimed at another conversation id (a thread)."""
    loaded: ConversationReference = ConversationReference().deserialize(dict(reference))
    if conversation_id and loaded.conversation is not None and loaded.conversation.id != conversation_id:
        loaded.conversation.id = conversation_id
    return loaded


def conversation_of(activity: Activity, raw: Mapping[str, Any], platform: Platform = "teams") -> Conversation:
    tenant = tenant_of(activity, raw)
    return Conversation(
        platform=platform,
        id=(activity.conversation.id if activity.conversation else "") or "",
        kind=conversation_kind(activity),
        team=tenant,
        thread=activity.reply_to_id or None,
        reference=reference_of(activity, tenant),
    )


def mentions_bot(activity: Activity) -> bool:
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        if (entity.type or "").lower() != "mention":
            continue
        mentioned = _dict((entity.additional_properties or {}).get("mentioned"))
        if bot_id and mentioned.get("id") == bot_id:
            return True
    return False


def bot_was_added(activity: Activity) -> bool:
    """The app was installed (installationUpdate "add") or the bot joined a team or chat (it is among a
    conversationUpdate's membersAdded); other members joining or leaving are not the bot's business."""
    if activity.type == ActivityTypes.installation_update:
        return (activity.action or "").lower().startswith("add")
    bot = activity.recipient.id if activity.recipient else None
    return bool(bot) and any(m.id == bot for m in activity.members_added or ())


def strip_bot_mention(activity: Activity) -> str:
    """The message text without the bot's `<at>name</at>` mention(s), HTML entities decoded.

    Same intent as `TurnContext.remove_recipient_mention`, but literal: that helper uses the mention text as
    a regular expression and mutates the activity.
    """
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    mentioned_bot = stripped = False
    for entity in activity.entities or []:
        if (entity.type or "").lower() != "mention":
            continue
        props = entity.additional_properties or {}
        mentioned = _dict(props.get("mentioned"))
        if not bot_id or mentioned.get("id") != bot_id:
            continue
        mentioned_bot = True
        name = str(mentioned.get("name") or "")
        for literal in (props.get("text"), f"<at>{name}</at>" if name else None):
            if isinstance(literal, str) and literal and literal in text:
                # The mention goes with the spaces around it, leaving one between the words it separated.
                text = re.sub(rf"\s*{re.escape(literal)}\s*", " ", text)
                stripped = True
    if mentioned_bot and not stripped and text.lstrip().lower().startswith("<at>"):
        # The entity's text did not match what Teams rendered: the leading tag is the bot's mention.
        text = _AT_TAG.sub(" ", text, count=1)
    return html.unescape(text).strip()


def is_command_message(activity: Activity) -> bool:
    """In a personal chat every message is for the bot; elsewhere only messages that @mention it."""
    return conversation_kind(activity) == "personal" or mentions_bot(activity)


def file_attachments(activity: Activity) -> tuple[Attachment, ...]:
    """Files attached in a personal chat (`file.download.info`): name and the pre-authorised download URL."""
    found: list[Attachment] = []
    for item in activity.attachments or []:
        if not isinstance(item, BfAttachment) or item.content_type != FILE_DOWNLOAD_INFO:
            continue
        content = _dict(item.content)
        url = content.get("downloadUrl")
        if not isinstance(url, str) or not url:
            continue
        name = item.name or ""
        guessed, _ = mimetypes.guess_type(name)
        file_type = str(content.get("fileType") or "")
        found.append(
            Attachment(
                name=name,
                url=url,
                content_type=guessed
                or (f"application/{file_type}" if file_type else "application/octet-stream"),
                platform_id=str(content["uniqueId"]) if content.get("uniqueId") else None,
            )
        )
    return tuple(found)


def command_from(
    activity: Activity, raw: Mapping[str, Any], text: str, parsed: ParsedText, platform: Platform = "teams"
) -> Command:
    conversation = conversation_of(activity, raw, platform)
    return Command(
        verb=parsed.verb,
        args=parsed.args,
        options=dict(parsed.options),
        user=user_of(activity, raw),
        conversation=conversation,
        platform=platform,
        text=text,
        attachments=file_attachments(activity),
        raw=raw,
    )


def _action(activity: Activity, raw: Mapping[str, Any], data: object, platform: Platform) -> Action | None:
    packed = unpack_teams(data if isinstance(data, Mapping) else None)
    if packed is None:
        return None
    conversation = conversation_of(activity, raw, platform)
    source = MessageRef(platform, conversation.id, activity.reply_to_id) if activity.reply_to_id else None
    return Action(
        action=packed.action,
        payload=dict(packed.payload),
        user=user_of(activity, raw),
        conversation=conversation,
        platform=platform,
        message=source,
        raw=raw,
    )


def submit_action(activity: Activity, raw: Mapping[str, Any], platform: Platform = "teams") -> Action | None:
    """An `Action.Submit` press: a message whose `value` is the button's data (plus any card inputs)."""
    return _action(activity, raw, activity.value, platform)


def execute_action(activity: Activity, raw: Mapping[str, Any], platform: Platform = "teams") -> Action | None:
    """An `Action.Execute` press: an `adaptiveCard/action` invoke carrying the data in `value.action.data`."""
    return _action(activity, raw, _dict(_dict(activity.value).get("action")).get("data"), platform)


def plain_summary(card: Card) -> str:
    return cut(to_plain(card.summary or card.title), 200)


def _rendered(card: Card, personal: bool) -> dict[str, Any]:
    # In a personal chat nobody mentions the bot: commands on the card read `status ...`, not `@ftbot status`.
    with ac_trigger("" if personal else TEAMS_TRIGGER):
        return render_adaptive(card)


class CardActivity(Activity):
    """A card message whose rendered card is shared by its copies: botbuilder deep-copies every activity it
    sends, which for a job card walked ~400 nodes of JSON per reply that nothing changes once rendered."""

    def __deepcopy__(self, memo: dict[int, Any]) -> CardActivity:
        import copy

        for attachment in self.attachments or ():
            memo[id(attachment.content)] = attachment.content
        clone: CardActivity = copy.copy(self)
        clone.__dict__ = copy.deepcopy(self.__dict__, memo)
        return clone


def card_activity(card: Card, *, personal: bool = False) -> Activity:
    """A message Activity carrying the card as an Adaptive Card attachment (`summary` feeds notifications)."""
    return CardActivity(
        type=ActivityTypes.message,
        summary=plain_summary(card),
        attachments=[BfAttachment(content_type=CONTENT_TYPE, content=_rendered(card, personal))],
    )


def card_response(card: Card, *, personal: bool = False) -> dict[str, Any]:
    """Invoke response body that replaces the clicked card for everyone (Universal Actions)."""
    return {"statusCode": 200, "type": RESPONSE_CARD, "value": _rendered(card, personal)}


def is_personal(activity: Activity) -> bool:
    return conversation_kind(activity) == "personal"


def message_response(text: str) -> dict[str, Any]:
    """Invoke response body that shows a short text to the clicking user and leaves the card as it is."""
    return {"statusCode": 200, "type": RESPONSE_MESSAGE, "value": text}


def error_response(status: int, message: str) -> dict[str, Any]:
    code = "BadRequest" if status == 400 else "InternalServerError"
    return {"statusCode": status, "type": RESPONSE_ERROR, "value": {"code": code, "message": message}}
