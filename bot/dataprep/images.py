"""Image part checks shared by the fast and the precise path, and image token estimates.

Rules (Azure vision fine-tuning): the URL is an http(s) URL or a base64 data URI; JPEG, PNG or WEBP; a data
URI's decoded payload is at most 10 MB. Formats of http(s) images cannot be checked offline.
"""

from __future__ import annotations

import binascii
import io
import math
from urllib.parse import urlsplit

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGES_PER_EXAMPLE = 64
# The docs also mention 10; above it we warn.
WARN_IMAGES_PER_EXAMPLE = 10
DETAILS = ("low", "high", "auto")

_MIME_FORMATS = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/png": "png", "image/webp": "webp"}
# Base64 of 12 bytes is 16 characters: enough to see each format's signature.
_SNIFF_CHARS = 16
# Tokens for an http(s) image or one whose size cannot be read: a 1024x1024 image at high detail.
UNKNOWN_IMAGE_TOKENS = 765
LOW_DETAIL_TOKENS = 85


# Base64 characters decoded to read an image's width and height (PNG/WEBP: the first bytes; JPEG: the SOF
# marker, after any EXIF block, which is at most 64 KB).
_HEADER_CHARS = 96 * 1024


def _decoded_size(url: str, start: int) -> int:
    """Bytes the base64 payload `url[start:]` decodes to, from its length alone (no copy of it is made)."""
    return (len(url) - start) * 3 // 4 - url[max(start, len(url) - 2) :].count("=")


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a WEBP header (Pillow decodes the whole image to tell), or None."""
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def sniff_format(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _split_data_uri(url: str) -> tuple[str, int] | None:
    """`data:<mime>;base64,<payload>` -> (mime, where the payload starts), or None when it is not that
    shape. The payload is not sliced out: a hostile one may be tens of MB."""
    comma = url.find(",", 0, 1024)
    header = url[:comma] if comma >= 0 else ""
    if not header.lower().endswith(";base64"):
        return None
    return header[5 : -len(";base64")].lower(), comma + 1


def check_image_url(url: str) -> str | None:
    """Why `url` is not an acceptable training image, or None when it is."""
    if url[:5].lower() == "data:":
        parts = _split_data_uri(url)
        if parts is None:
            return "data URI must be base64: data:image/<jpeg|png|webp>;base64,<data>"
        mime, start = parts
        declared = _MIME_FORMATS.get(mime)
        if declared is None:
            return f"image type {mime or '(none)'!r} is not supported (JPEG, PNG or WEBP only)"
        # Decoded size from the length alone, before decoding anything big.
        size = _decoded_size(url, start)
        if size > MAX_IMAGE_BYTES:
            return f"image is {size / 1048576:.1f} MB; the limit is 10 MB"
        try:
            head = binascii.a2b_base64(url[start : start + _SNIFF_CHARS], strict_mode=True)
            binascii.a2b_base64(url[start:], strict_mode=True)
        except binascii.Error as exc:
            return f"data URI payload is not valid base64 ({exc})"
        actual = sniff_format(head)
        if actual is None:
            return "data URI payload is not a JPEG, PNG or WEBP image"
        if actual != declared:
            return f"data URI says {mime} but holds {actual.upper()} data"
        return None
    try:
        parts_url = urlsplit(url)
    except ValueError:
        parts_url = None
    if parts_url is None or parts_url.scheme.lower() not in ("http", "https") or not parts_url.netloc:
        return "url must be an http(s) URL or a base64 data URI"
    return None


def tokens_for_size(width: int, height: int, detail: str) -> int:
    """OpenAI's image token rule: fit in 2048x2048, shortest side to 768, 170 per 512px tile + 85."""
    if detail == "low":
        return LOW_DETAIL_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h)) if min(w, h) > 0 else 1.0
    w, h = w * scale, h * scale
    return LOW_DETAIL_TOKENS + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def image_tokens(url: str, detail: str) -> int:
    """Token estimate for one image part; reads the size of data-URI images (header only)."""
    if detail == "low":
        return LOW_DETAIL_TOKENS
    parts = _split_data_uri(url) if url[:5].lower() == "data:" else None
    if parts is None:
        return UNKNOWN_IMAGE_TOKENS
    start = parts[1]
    if _decoded_size(url, start) > MAX_IMAGE_BYTES:
        return UNKNOWN_IMAGE_TOKENS  # refused by `check_image_url` anyway; never decoded
    try:
        from PIL import Image

        # The size is in the header: decode only the head, not up to 10 MB per image (64 per example).
        head = binascii.a2b_base64(url[start : start + _HEADER_CHARS])
        size = _webp_size(head)
        if size is None:
            with Image.open(io.BytesIO(head)) as img:
                size = img.size
        width, height = size
    except Exception:  # any unreadable image: fall back to the estimate, never fail a report on it
        return UNKNOWN_IMAGE_TOKENS
    return tokens_for_size(width, height, detail)
