"""Output streams for the writers' tests."""

from __future__ import annotations

import io


class FailingSink(io.BytesIO):
    """A sink whose disk fills up after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: object) -> int:
        assert isinstance(data, bytes | bytearray | memoryview)
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)
