"""Where one HTTP/1.1 request ends, found as its bytes arrive.

The keepalive worker reads each request whole in its event loop before it runs it, so a client
that sends slowly waits in the poller, never in the worker. This module only finds the end of a
request (the head's blank line, then Content-Length bytes or the chunked body's last chunk and
trailers); gunicorn's parser still parses and checks what was read. A request the parser or the
app is sure to refuse (malformed framing, a body over the limit) is handed over as soon as that is
known, so they answer at once without the rest being read.
"""
from __future__ import annotations

HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"
MAX_CHUNK_LINE = 4096  # a chunk-size line longer than this is malformed (gunicorn refuses it too)


class RequestBuffer:
    """The bytes of one request as they arrive, and whether they hold all of it."""

    def __init__(self, max_body: int, max_head: int) -> None:
        self.max_body, self.max_head = max_body, max_head
        self.data = bytearray()
        self.head_end = -1        # just past the head's blank line, once it arrived
        self.length: int | None = None  # Content-Length
        self.chunked = False
        self.chunk_at = 0         # where the next chunk-size line starts
        self.chunk_payload = 0    # payload bytes of the chunks seen so far
        self.end = -1             # just past the request, once all of it arrived
        self.hand_over = False    # incomplete, but the parser or the app will refuse it now
        self.head_too_large = False
        self.expects_continue = False  # Expect: 100-continue (the line is dropped from the head)

    @property
    def ready(self) -> bool:
        """Whether the request can be handed to the parser now."""
        return self.end >= 0 or self.hand_over

    def add(self, chunk: bytes) -> None:
        """Take newly received bytes and find out how much of the request is there."""
        seen = len(self.data)
        self.data += chunk
        if self.ready:
            return  # pipelined bytes of a later request: the parser keeps them for later
        if self.head_end < 0:
            self._find_head(seen)
        if self.head_end >= 0 and not self.ready:
            self._find_body_end()

    def _find_head(self, seen: int) -> None:
        """Look for the head's end in the new bytes only (a head may arrive a byte at a time)."""
        found = self.data.find(HEAD_END, max(0, seen - len(HEAD_END) + 1))
        end = found if found >= 0 else len(self.data)
        newline = self.data.find(b"\n", seen, end)
        while newline >= 0:
            if newline == 0 or self.data[newline - 1] != CRLF[0]:
                self.hand_over = True  # a bare LF: gunicorn refuses the head (400) without the rest
                return
            newline = self.data.find(b"\n", newline + 1, end)
        if found < 0:
            self.head_too_large = len(self.data) > self.max_head
            return
        self.head_end = found + len(HEAD_END)
        self._read_headers()

    def _read_headers(self) -> None:
        lengths, codings, kept = [], [], []
        lines = bytes(self.data[:self.head_end - len(HEAD_END)]).split(CRLF)
        for line in lines:
            name, colon, value = line.partition(b":")
            key = name.strip().lower() if colon else b""
            if key == b"content-length":
                lengths.append(value.strip())
            elif key == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif key == b"expect" and value.strip().lower() == b"100-continue":
                self.expects_continue = True
                continue  # answered here; the parser must not send a second 100 Continue
            kept.append(line)
        if self.expects_continue:
            head = CRLF.join(kept) + HEAD_END
            self.data[:self.head_end] = head
            self.head_end = len(head)
        if codings:
            # Only chunked last, and no Content-Length beside it, is a framing gunicorn accepts.
            self.hand_over = codings[-1] != b"chunked" or bool(lengths)
            self.chunked, self.chunk_at = True, self.head_end
        elif lengths:
            if len(lengths) > 1 or not lengths[0].isdigit():
                self.hand_over = True  # gunicorn answers 400
                return
            self.length = int(lengths[0])
            if self.length > self.max_body:
                self.hand_over = True  # the app answers 413 without reading the body
        else:
            self.end = self.head_end  # no body

    def _find_body_end(self) -> None:
        if self.length is not None:
            if len(self.data) >= self.head_end + self.length:
                self.end = self.head_end + self.length
            return
        while True:  # chunked: one chunk-size line and chunk at a time
            line_end = self.data.find(CRLF, self.chunk_at)
            if line_end < 0:
                if len(self.data) - self.chunk_at > MAX_CHUNK_LINE:
                    self.hand_over = True
                return
            size_text = bytes(self.data[self.chunk_at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self.hand_over = True  # the parser answers 400
                return
            if size == 0:  # the last chunk: then trailers, if any, and a blank line
                trailers_end = self.data.find(HEAD_END, line_end)
                if trailers_end >= 0:
                    self.end = trailers_end + len(HEAD_END)
                elif len(self.data) - line_end > self.max_head:
                    self.hand_over = True
                return
            payload_at = line_end + len(CRLF)
            over_by = self.chunk_payload + size - self.max_body
            if over_by > 0 and len(self.data) >= payload_at + size - over_by + 1:
                # Past the limit: the app reads one byte more than it allows, finds it there and
                # answers 413, so hand over as soon as that byte arrived.
                self.hand_over = True
                return
            next_line = payload_at + size + len(CRLF)
            if len(self.data) < next_line:
                return
            self.chunk_payload += size
            self.chunk_at = next_line

    def missing(self) -> str:
        """What of the request has not arrived, for an error message."""
        if self.head_end < 0:
            return f"the request's head (headers) is incomplete after {len(self.data)} bytes"
        if self.length is not None:
            return (f"{len(self.data) - self.head_end} of the {self.length} body bytes announced by "
                    "Content-Length arrived")
        return f"the chunked body has no last chunk after {self.chunk_payload} bytes of payload"
