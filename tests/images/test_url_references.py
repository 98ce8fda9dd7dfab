"""URL references are checked before anything is billed: reachable, an image
by its first bytes, not too large; a URL that fails is blamed as that
reference, never as the image service."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_url_only_reference_that_is_no_image_is_refused_before_billing(emu: Emulator, client: xj.Client) -> None:
    page = f"{emu.base_url}/v1/models"  # JSON, not an image
    with pytest.raises(xj.InvalidRequestError) as info:
        client.generate("from a page", references=[f"{emu.cdn_url}/refs/sample.png", page])
    assert info.value.field == "references[1]" and page in info.value.message
    assert "not a JPEG, PNG or WebP" in info.value.message
    assert emu.stats.generate_posts == 0


def test_an_unreachable_url_is_the_references_fault_not_the_services(emu: Emulator, client: xj.Client) -> None:
    gone = f"http://127.0.0.1:{_closed_port()}/photo.png"
    with pytest.raises(xj.InvalidRequestError) as info:
        client.generate("from nowhere", references=gone)
    assert not isinstance(info.value, xj.APIConnectionError)
    assert info.value.field == "references[0]" and gone in info.value.message
    assert "check_urls=False" in info.value.message
    assert emu.stats.generate_posts == 0


def test_a_gif_behind_a_png_name_is_refused(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError, match="GIF"):
        client.generate("a disguised gif", references=f"{emu.cdn_url}/refs/sample.gif?as=photo.png")
    assert emu.stats.generate_posts == 0


def test_a_good_url_is_checked_without_the_key_and_sent_as_image_input(emu: Emulator, client: xj.Client) -> None:
    url = f"{emu.cdn_url}/refs/sample.jpg"
    client.generate("from a photo", references=url)
    assert emu.last_generation["image_input"] == [url]
    peeks = [r for r in emu.requests if r.origin == "cdn" and r.path == "/refs/sample.jpg"]
    assert peeks and not any(r.has_authorization for r in peeks)


def test_check_urls_false_sends_the_url_unchecked(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    client = make_client(check_urls=False)
    url = f"http://127.0.0.1:{_closed_port()}/only-the-api-can-reach-this.png"
    client.generate("trust me", references=url)  # the server is trusted to reach it
    assert emu.last_generation["image_input"] == [url]
    assert emu.stats.generate_posts == 1
    assert not any(r.path == "/only-the-api-can-reach-this.png" for r in emu.requests)


def test_mixed_urls_and_files_blame_the_url_that_failed(emu: Emulator, client: xj.Client) -> None:
    from PIL import Image

    gone = f"http://127.0.0.1:{_closed_port()}/photo.png"
    with pytest.raises(xj.InvalidRequestError) as info:
        client.generate("mixed", references=[Image.new("RGB", (8, 8)), gone])
    assert not isinstance(info.value, xj.APIConnectionError)
    assert gone in info.value.message
    assert emu.stats.generate_posts == 0
