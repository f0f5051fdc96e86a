"""runtime.configure_malloc: freed memory kept for reuse unless the user tuned malloc."""
import os
import sys

import pytest

from paddlecnn import runtime


class FakeLibc:
    """Records mallopt calls; answers ``result`` (glibc: 1 on success, 0 on refusal)."""

    def __init__(self, result: int = 1):
        self.calls, self.result = [], result

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.result


def test_sets_both_thresholds_when_nobody_tuned_malloc():
    libc = FakeLibc()
    said = runtime.configure_malloc({}, libc)
    assert said.startswith("freed blocks up to 32 MiB kept")
    assert libc.calls == [(runtime.M_MMAP_THRESHOLD, 32 << 20), (runtime.M_TRIM_THRESHOLD, 128 << 20)]


@pytest.mark.parametrize("environ,expect", [
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "the user's"),
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "the user's"),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, "the user's"),
    ({"PADDLECNN_MALLOC": "off"}, "glibc's default (PADDLECNN_MALLOC=off)"),
])
def test_the_users_settings_win_and_nothing_is_called(environ, expect):
    libc = FakeLibc()
    assert runtime.configure_malloc(environ, libc).startswith(expect)
    assert libc.calls == []


def test_other_tunables_do_not_count_as_tuning_malloc():
    libc = FakeLibc()
    assert runtime.configure_malloc({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"}, libc).startswith("freed")


def test_a_refusal_or_a_libc_without_mallopt_is_said():
    assert runtime.configure_malloc({}, FakeLibc(result=0)) == "glibc's default (mallopt refused)"
    assert runtime.configure_malloc({}, object()) == "the platform's default (no glibc mallopt)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_this_process_keeps_freed_memory_unless_the_environment_said_otherwise():
    tuned = any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "PADDLECNN_MALLOC"))
    if tuned or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        pytest.skip("the environment tunes malloc")
    assert runtime.SETTINGS["malloc"] == "freed blocks up to 32 MiB kept for reuse, at most 128 MiB held (glibc mallopt)"
