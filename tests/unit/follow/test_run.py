"""The follow-through runner's error handling: an error raised inside task groups reaches
the user as one error with its exit code."""

from __future__ import annotations

from launcher.api.outcomes import ApiError


def test_an_api_error_inside_task_groups_reaches_the_user_as_one_exit_1_error() -> None:
    from launcher.errors import ApiUnavailable, AuthError, ExitCode
    from launcher.follow.run import _unwrapped

    class Group(Exception):  # what anyio raises from a task group, on any Python
        def __init__(self, *inner: BaseException) -> None:
            super().__init__("group")
            self.exceptions = inner

    nested = Group(Group(ApiError("HTTP 503", 503)))
    error = _unwrapped(nested)
    assert isinstance(error, ApiUnavailable) and error.exit_code == ExitCode.FAILED
    assert "HTTP 503" in str(error)
    auth = AuthError("rejected")
    assert _unwrapped(Group(auth)) is auth
