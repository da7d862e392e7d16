"""The demo's session cookie: what the web side signs, on_connect reads back, and nothing else."""

from __future__ import annotations

import pytest

from demo import session


def test_a_signed_name_reads_back() -> None:
    assert session.user_of(session.sign("alice")) == "alice"
    header = f"theme=dark; {session.COOKIE}={session.sign('bob')}; other=1"
    assert session.user_of_header(header) == "bob"


def _last_character_changed(value: str) -> str:
    # Always another character: a signature that already ended in "0" once made this case valid.
    return value[:-1] + ("1" if value.endswith("0") else "0")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "alice",
        "alice.123",
        "mallory." + session.sign("alice").partition(".")[2],  # alice's signature, another name
        _last_character_changed(session.sign("alice")),
        "al ice.1.abc",
    ],
)
def test_forged_or_malformed_values_name_nobody(value: str | None) -> None:
    assert session.user_of(value) is None


def test_an_old_cookie_has_expired() -> None:
    value = session.sign("alice", now=1000)
    assert session.user_of(value, now=1000 + session.MAX_AGE) == "alice"
    assert session.user_of(value, now=1001 + session.MAX_AGE) is None


def test_headers_without_the_cookie_name_nobody() -> None:
    assert session.user_of_header(None) is None
    assert session.user_of_header("theme=dark") is None
    assert session.user_of_header('bad"cookie') is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "Enter a name"), ("a b", "letters, digits"), ("x" * 25, "1 to 24"), ("ok_name-1", None)],
)
def test_names_that_may_sign_in(name: str, problem: str | None) -> None:
    found = session.name_problem(name)
    assert (found is None) if problem is None else (problem in str(found))
