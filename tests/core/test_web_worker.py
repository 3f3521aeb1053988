"""Where a request ends, as the web worker decides before handing it to a thread."""

from __future__ import annotations

import pytest

from bot.core.web_worker import MAX_BODY, Incomplete, TooLarge, request_end

HEAD = b"POST /callback HTTP/1.1\r\nHost: bot.example.com\r\n"


def test_a_request_without_a_body_ends_after_its_headers():
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert request_end(request + b"GET /next") == len(request)


def test_headers_not_yet_complete_are_incomplete():
    with pytest.raises(Incomplete):
        request_end(HEAD + b"Content-Le")


def test_a_body_is_awaited_to_its_content_length():
    request = HEAD + b"content-length: 10\r\n\r\n" + "あいう!".encode()
    with pytest.raises(Incomplete):
        request_end(request[:-1])
    assert request_end(request + b"X") == len(request)


def test_a_chunked_body_is_awaited_to_its_last_chunk():
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n"
    for cut in (1, 3, 7, 20):
        with pytest.raises(Incomplete):
            request_end(request[:-cut])
    assert request_end(request) == len(request)


def test_a_chunked_body_with_trailers_ends_after_them():
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Sum: 1\r\n\r\n"
    with pytest.raises(Incomplete):
        request_end(request[:-2])
    assert request_end(request) == len(request)


def test_bodies_over_the_limit_are_too_large_before_they_arrive():
    with pytest.raises(TooLarge):
        request_end(HEAD + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    with pytest.raises(TooLarge):
        request_end(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % (MAX_BODY + 1))


def test_malformed_framing_is_handed_to_gunicorn_to_refuse():
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert request_end(request) == len(request) - 2
    oversized_head = HEAD + b"X: " + b"a" * 70_000
    assert request_end(oversized_head) == len(oversized_head)
