"""Adversary pass 127: today's wheel installer routing (.data spelling, entry-point wrappers,
headers), the https -> http refusal in ``origins.follow`` and ``split_words``' fast path.

Findings this file pins (each failed before its fix):

- ``split_words`` copied the word being read at every unquoted stretch inside it
  (``[*pieces, first]``): a word of a million quoted pieces (``a''a''...``, 3 MB) took most of
  an hour of CPU where the reader before the fast path took 4 s.
"""

from __future__ import annotations

import shlex

import pytest

from mlenv.shell_words import split_words

# --- split_words: a word of many pieces --------------------------------------------------------


@pytest.mark.parametrize("piece", ["a''", "a\\b", 'a"\\""'])
def test_a_word_of_a_million_pieces_is_read_whole(piece: str) -> None:
    """Each quote or escape starts a new piece of the same word; the word is built by appending,
    not by copying what was read so far at every unquoted stretch (quadratic: 1M pieces never
    finished). The short form is held to shlex itself."""
    expected = shlex.split(piece)[0]
    assert split_words(piece * (1 << 20)) == [expected * (1 << 20)]
    assert split_words(f"x {piece * 3} y") == shlex.split(f"x {piece * 3} y")
