"""Conditions on a verified token's claims (``services.runtime.claims``; docs/fulcio.md "Issuance
policy"): claim names and RFC 6901 pointers, the ``*`` glob (against a reference built from
regular-expression escaping, and its step count on patterns that make a backtracking regular
expression explode), the claim value kinds that match, and the configuration errors.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.claims import (
    MAX_PATTERN_CHARS,
    MAX_PATTERNS,
    Condition,
    all_hold,
    glob,
    lookup,
    parse_conditions,
    pointer,
)

# ---- claim names and JSON pointers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("email", ("email",)),
        ("kubernetes.io/namespace", ("kubernetes.io/namespace",)),  # a name, not a pointer
        ("/kubernetes.io/namespace", ("kubernetes.io", "namespace")),
        ("/a~1b", ("a/b",)),
        ("/m~0n", ("m~n",)),
        ("/~01", ("~1",)),  # ~0 then 1: the RFC 6901 order (not "/")
        ("/~10", ("/0",)),
        ("/", ("",)),  # the member named ""
        ("/a//b", ("a", "", "b")),
    ],
)
def test_pointer_parsing(name: str, path: tuple[str, ...]) -> None:
    assert pointer(name, "here") == path


@pytest.mark.parametrize("name", ["/a~", "/a~2", "/~x/b", "/ok/~"])
def test_pointer_with_a_bad_tilde_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^here: .*is not a JSON Pointer \(~ must be ~0 or ~1\)"):
        pointer(name, "here")


@pytest.mark.parametrize("name", ["", None, 3])
def test_claim_name_must_be_a_non_empty_string(name: Any) -> None:
    with pytest.raises(ConfigError, match="^here: a claim name must be a non-empty string"):
        pointer(name, "here")


K8S = {
    "sub": "system:serviceaccount:ci:builder",
    "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}},
    "a/b": "slash",
    "m~n": "tilde",
    "groups": ["dev", "release-signers"],
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sub", "system:serviceaccount:ci:builder"),
        ("/kubernetes.io/namespace", "ci"),
        ("/kubernetes.io/serviceaccount/name", "builder"),
        ("/kubernetes.io/serviceaccount", {"name": "builder"}),
        ("/a~1b", "slash"),
        ("/m~0n", "tilde"),
        ("/groups/1", "release-signers"),  # RFC 6901 section 4: an array element by its index
        ("/groups/0", "dev"),
        # leading nowhere: absent members, below a string, past the end, not an index
        ("/kubernetes.io/namespace/x", None),
        ("/kubernetes.io/nothing", None),
        ("kubernetes.io/namespace", None),
        ("/groups/2", None),
        ("/groups/01", None),
        ("/groups/-", None),
        ("/groups/-1", None),
        ("/groups/ 1", None),
        ("/groups/1.0", None),
        ("/groups/１", None),  # a full-width digit is not an index
        ("/sub/0", None),  # a string is not an array
        ("missing", None),
    ],
)
def test_lookup_of_nested_claims(name: str, value: Any) -> None:
    assert lookup(K8S, pointer(name, "here")) == value


# ---- the glob ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("*", "anything at all", True),
        ("***", "", True),
        ("***", "abc", True),
        ("a", "a", True),
        ("a", "A", False),  # case-sensitive
        ("*@Example.com", "alice@example.com", False),
        ("*@example.com", "alice@example.com", True),
        ("*@example.com", "alice@example.com.evil", False),  # the whole value
        ("*@example.com", "alice@sub.example.com", False),
        ("*@example.com", "@example.com", True),  # * matches no characters too
        ("*example.com", "alice@evilexample.com", True),  # what a pattern without @ allows
        ("a?c", "abc", False),  # ? is itself
        ("a?c", "a?c", True),
        ("[ab]", "a", False),  # [ is itself
        ("[ab]", "[ab]", True),
        ("a.c", "abc", False),  # no regular expression: . is itself
        ("a\\*", "a\\xyz", True),  # no escape character: \ is itself and * still a star
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "aXbY", False),
        ("*a*a*a*a*b", "a" * 30 + "b", True),
        ("*a*a*a*a*b", "a" * 30, False),
        ("refs/tags/v*", "refs/tags/v1.2.0", True),
        ("refs/tags/v*", "refs/heads/main", False),
        ("ü*", "über", True),
    ],
)
def test_glob(pattern: str, text: str, matches: bool) -> None:
    assert glob(pattern, text) is matches


def reference(pattern: str, text: str) -> bool:
    """The glob as a regular expression: each piece between stars escaped, stars as ``.*``."""
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


ALPHABET = st.sampled_from("ab*?[\\.\n")


@settings(max_examples=600, deadline=None)
@given(st.text(ALPHABET, max_size=10), st.text(st.sampled_from("ab?[\\.\n*"), max_size=14))
def test_glob_agrees_with_the_reference(pattern: str, text: str) -> None:
    assert glob(pattern, text) is reference(pattern, text)


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET, max_size=10), st.text(st.sampled_from("ab?*"), max_size=10))
def test_a_pattern_matches_the_texts_it_describes(pattern: str, fill: str) -> None:
    """Every star filled with the same text: the pattern matches what it describes."""
    assert glob(pattern, pattern.replace("*", fill))


class Counted(str):
    """A string that counts how often the matcher reads a character of it."""

    reads = 0

    def __getitem__(self, index: Any) -> str:
        Counted.reads += 1
        return str.__getitem__(self, index)


def steps(pattern: str, text: str) -> tuple[bool, int]:
    Counted.reads = 0
    result = glob(Counted(pattern), Counted(text))
    return result, Counted.reads


@pytest.mark.parametrize(
    "pattern", ["*a*a*a*a*b", "*a*a*a*a*a*a*a*a*a*a*a*a*b", "a*" * 40 + "b", "*" + "a" * 20 + "b"]
)
def test_pathological_patterns_take_steps_linear_in_the_text(pattern: str) -> None:
    """A regular expression ``.*a.*a.*a.*a.*b`` backtracks through about n**5 ways of splitting
    a run of n a's; the matcher goes back to its last star only, so for a fixed pattern its
    reads grow in proportion to the text and stay within len(pattern) x len(text)."""
    small, large = "a" * 2_000, "a" * 8_000
    matched_small, reads_small = steps(pattern, small)
    matched_large, reads_large = steps(pattern, large)
    assert not matched_small and not matched_large
    assert reads_large <= 4.5 * reads_small  # four times the text: about four times the reads
    assert reads_large <= 3 * (len(pattern) + 1) * (len(large) + 1)
    assert steps(pattern, large + "b") == (True, pytest.approx(reads_large, rel=0.5))


def test_long_claim_against_many_stars_stays_within_the_bound() -> None:
    pattern = "*a" * (MAX_PATTERN_CHARS // 2)  # the longest pattern a configuration may hold
    text = "ab" * 5_000
    matched, reads = steps(pattern, text)
    assert not matched
    assert reads <= 3 * (len(pattern) + 1) * (len(text) + 1)


# ---- value kinds ------------------------------------------------------------------------------------


def holds(value: Any, *patterns: str) -> bool:
    return Condition.parse("c", list(patterns), "here").holds({"c": value})


@pytest.mark.parametrize(
    ("value", "pattern", "matches"),
    [
        ("ci", "ci", True),
        (True, "true", True),
        (False, "false", True),
        (True, "True", False),
        (True, "1", False),  # a boolean is not a number
        (1, "true", False),
        (42, "42", True),
        (42, "4*", True),
        (-7, "-7", True),
        (0, "0", True),
        (1.0, "1", False),  # fractions never match, whole or not
        (1.0, "1.0", False),
        (1.5, "*", False),
        (None, "*", False),
        (None, "null", False),
        ({"namespace": "ci"}, "*", False),  # objects never match
        ({}, "*", False),
        ([], "*", False),  # an empty list has no element to match
        (["dev", "release-signers"], "release-signers", True),
        (["dev", "ops"], "release-signers", False),
        ([True, 3], "3", True),
        ([True, 3], "true", True),
        ([None, {"a": "x"}, 1.5], "*", False),
        ([["release-signers"]], "release-signers", False),  # nested lists are not flattened
    ],
)
def test_value_kinds(value: Any, pattern: str, matches: bool) -> None:
    assert holds(value, pattern) is matches


def test_any_pattern_of_a_condition_and_every_condition_must_hold() -> None:
    conditions = parse_conditions(
        {"/kubernetes.io/namespace": ["prod", "c*"], "sub": "system:serviceaccount:*"}, "here"
    )
    assert [c.claim for c in conditions] == ["/kubernetes.io/namespace", "sub"]
    assert all_hold(conditions, K8S)
    assert not all_hold(conditions, {**K8S, "sub": "alice"})
    assert not all_hold(conditions, {"sub": "system:serviceaccount:ci:x"})  # no namespace at all
    assert all_hold((), {})  # nothing to hold


def test_absent_claim_matches_nothing_not_even_star() -> None:
    assert not Condition.parse("email", "*", "here").holds({})


# ---- malformed conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "claims must be a non-empty JSON object"),
        ({}, "claims must be a non-empty JSON object"),
        (["email"], "claims must be a non-empty JSON object"),
        ("email", "claims must be a non-empty JSON object"),
        ({"email": []}, "give 1 to 256 patterns for 'email'"),
        ({"email": ["x"] * (MAX_PATTERNS + 1)}, "give 1 to 256 patterns for 'email'"),
        ({"email": None}, r"\(email\): a pattern must be a string"),
        ({"email": 3}, r"\(email\): a pattern must be a string"),
        ({"email": True}, r"\(email\): a pattern must be a string"),
        ({"email": {"x": "y"}}, r"\(email\): a pattern must be a string"),
        ({"email": ["ok", ["nested"]]}, r"\(email\): a pattern must be a string"),
        ({"email": "x" * (MAX_PATTERN_CHARS + 1)}, r"at most 1024 characters"),
        ({"": "x"}, "a claim name must be a non-empty string"),
        ({"/a~2": "x"}, "is not a JSON Pointer"),
    ],
)
def test_malformed_conditions_are_refused(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^issuer X: rule 'r'.*{message}"):
        parse_conditions(raw, "issuer X: rule 'r'")


def test_longest_pattern_and_most_patterns_are_accepted() -> None:
    (condition,) = parse_conditions({"email": ["x" * MAX_PATTERN_CHARS] * MAX_PATTERNS}, "here")
    assert len(condition.patterns) == MAX_PATTERNS
