"""The channel against scripted, hostile and silent fake agents: bounded reads, deadlines, order."""

from __future__ import annotations

import contextlib
import struct
import time

import pytest
from agent_support import FakeAgent, call_record, frame, result_payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.deadline import Deadline
from rig.errors import GuestProtocolError
from rig.guest.channel import AgentGone, AgentSilent, Channel, ChannelLimits
from rig.guest.protocol import AgentConfig, AgentError, CallStatus, ProgStatus
from rig.prog.program import FileRead, Program

FAST = ChannelLimits(margin_s=0.3, hello_retry_s=0.2)
CONFIG = AgentConfig(allow_paths=("/x",), call_timeout_s=0.2)
PROG = Program((FileRead("/x", 10),))


def connected(fake: FakeAgent, limits: ChannelLimits = FAST) -> Channel:
    ch = Channel(fake.host_sock, limits)
    ch.handshake(Deadline(5))
    ch.configure(CONFIG, Deadline(5))
    return ch


def ready_then(then: object) -> FakeAgent:
    def script(fake: FakeAgent) -> None:
        fake.hello()
        fake.config()
        then(fake)  # type: ignore[operator]

    return FakeAgent(script)


def answer_run(fake: FakeAgent, calls: list[bytes] | None = None) -> None:
    tag, payload = fake.request_of(3)
    seq = struct.unpack_from("<Q", payload)[0]
    fake.send(frame(0x83, tag, result_payload(seq, calls or [call_record(ret=3, out=b"abc")])))


def test_run_gets_result() -> None:
    fake = ready_then(answer_run)
    ch = connected(fake)
    r = ch.run(PROG, 42)
    assert r.seq == 42 and r.status == ProgStatus.OK
    assert r.calls[0].status == CallStatus.OK and r.calls[0].output == b"abc"
    fake.join()


def test_handshake_skips_stale_bytes_and_old_frames() -> None:
    def script(fake: FakeAgent) -> None:
        fake.request()  # first hello: "eaten" by a stale partial frame
        fake.send(b"\x00garbage RIG" + frame(0x83, 99, b"old result") + b"RIGA\x01")
        fake.send(frame(0xFF, 0, struct.pack("<I", 1) + b"\x04\0\0\0junk"))
        fake.hello()  # the retry is answered
        fake.config()
        answer_run(fake)

    fake = FakeAgent(script)
    ch = connected(fake)
    assert ch.info is not None and ch.info.release == "6.1.0-test"
    assert ch.run(PROG, 1).calls[0].ret == 3
    fake.join()


def test_late_duplicate_hello_reply_is_ignored() -> None:
    def script(fake: FakeAgent) -> None:
        _, tag1, payload = fake.request()
        time.sleep(0.35)  # the host resends meanwhile
        _, tag2, _ = fake.request()
        nonce = struct.unpack("<IQ", payload)[1]
        body = struct.pack("<IQIII", 1, nonce, 1, 1, 0) + struct.pack("<I", 0)
        fake.send(frame(0x81, tag1, body) + frame(0x81, tag2, body))
        fake.config()
        answer_run(fake)

    fake = FakeAgent(script)
    ch = connected(fake)
    assert ch.run(PROG, 5).seq == 5
    fake.join()


def test_hello_without_agent_is_silent_by_the_deadline() -> None:
    fake = FakeAgent(lambda f: f.idle(1))
    ch = Channel(fake.host_sock, FAST)
    t = time.monotonic()
    with pytest.raises(AgentSilent):
        ch.handshake(Deadline(0.5))
    assert time.monotonic() - t < 2.0
    fake.join()


def test_endless_garbage_before_hello_is_bounded() -> None:
    def script(fake: FakeAgent) -> None:
        fake.request()
        try:
            for _ in range(200):
                fake.send(b"RIG" + b"x" * 65536)
        except OSError:
            pass

    fake = FakeAgent(script)
    ch = Channel(fake.host_sock, ChannelLimits(stale_bytes=1 << 20))
    with pytest.raises(GuestProtocolError, match="bytes before the agent's hello"):
        ch.handshake(Deadline(5))


def test_huge_length_is_refused_before_reading_it() -> None:
    def hostile(fake: FakeAgent) -> None:
        _, tag, _ = fake.request()
        fake.send(struct.pack("<IHHII", 0x41474952, 0x83, 0, tag, 0xFFFFFFF0) + b"x" * 100)
        fake.idle(0.5)

    fake = ready_then(hostile)
    ch = connected(fake)
    t = time.monotonic()
    with pytest.raises(GuestProtocolError, match="at most"):
        ch.run(PROG, 1)
    assert time.monotonic() - t < 0.9
    with pytest.raises(GuestProtocolError, match="unusable"):
        ch.submit(PROG, 2)
    fake.join()


def test_silent_agent_times_out_within_the_budget() -> None:
    fake = ready_then(lambda f: (f.request(), f.idle(2)))
    ch = connected(fake)
    t = time.monotonic()
    with pytest.raises(AgentSilent, match="program 7"):
        ch.run(PROG, 7)
    # budget: 1 call * 0.2 s + kill grace 0.5 s + margin 0.3 s
    assert 0.9 < time.monotonic() - t < 3.0
    fake.join()


def test_trickling_agent_cannot_stretch_the_budget() -> None:
    def trickle(fake: FakeAgent) -> None:
        _, tag, payload = fake.request()
        seq = struct.unpack_from("<Q", payload)[0]
        data = frame(0x83, tag, result_payload(seq, [call_record(out=b"x" * 100)]))
        for i in range(len(data) - 1):
            if fake.stop.is_set():
                return
            fake.send(data[i : i + 1])
            time.sleep(0.02)

    fake = ready_then(trickle)
    ch = connected(fake)
    t = time.monotonic()
    with pytest.raises(AgentSilent):
        ch.run(PROG, 1)
    assert time.monotonic() - t < 3.0
    fake.join()


def test_handshake_recovers_after_silence() -> None:
    def slow(fake: FakeAgent) -> None:
        _, tag, _ = fake.request()
        fake.idle(1.2)  # longer than the budget; the host gives up, then greets again
        fake.send(frame(0x83, tag, result_payload(1, [call_record()])))  # too late
        fake.hello()
        fake.config()
        answer_run(fake)

    fake = ready_then(slow)
    ch = connected(fake)
    with pytest.raises(AgentSilent):
        ch.run(PROG, 1)
    with pytest.raises(GuestProtocolError, match="unusable"):
        ch.submit(PROG, 2)
    ch.handshake(Deadline(5))
    ch.configure(CONFIG, Deadline(5))
    assert ch.run(PROG, 3).seq == 3
    fake.join()


def test_caller_deadline_wins_over_the_budget() -> None:
    fake = ready_then(lambda f: (f.request(), f.idle(1)))
    ch = connected(fake)
    t = time.monotonic()
    with pytest.raises(AgentSilent, match="deadline"):
        ch.run(PROG, 1, Deadline(0.2))
    assert time.monotonic() - t < 0.9
    fake.join()


def test_agent_hangup() -> None:
    def hangup(fake: FakeAgent) -> None:
        fake.request()
        fake.sock.close()

    fake = ready_then(hangup)
    ch = connected(fake)
    with pytest.raises(AgentGone):
        ch.run(PROG, 1)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (lambda tag, seq: frame(0x83, tag + 1, result_payload(seq, [call_record()])), "tag"),
        (lambda tag, seq: frame(0x83, tag, result_payload(seq + 1, [call_record()])), "expected"),
        (lambda tag, seq: frame(0x83, tag, result_payload(seq, [])), "expected"),
        (lambda tag, seq: frame(0x84, tag, b""), "to a RUN request"),
        (lambda tag, seq: frame(0x83, tag, result_payload(seq, [call_record()])[:-3]), "truncat"),
        (lambda tag, seq: frame(0x83, tag, result_payload(seq, [call_record()]) + b"!"), "after"),
        (lambda tag, seq: frame(0x83, tag, result_payload(seq, [call_record(status=9)])), "status"),
        (
            lambda tag, seq: frame(0x83, tag, result_payload(seq, [call_record(out=b"x" * 70000)])),
            "exceeds",
        ),
        (lambda tag, seq: frame(0x83, tag, b"", magic=0x12345678), "magic"),
    ],
)
def test_malformed_replies_break_the_channel(reply: object, match: str) -> None:
    def hostile(fake: FakeAgent) -> None:
        _, tag, payload = fake.request()
        seq = struct.unpack_from("<Q", payload)[0]
        fake.send(reply(tag, seq))  # type: ignore[operator]
        fake.idle(0.2)

    fake = ready_then(hostile)
    ch = connected(fake)
    with pytest.raises(GuestProtocolError, match=match):
        ch.run(PROG, 1)
    fake.join()


def test_agent_error_reply_leaves_the_channel_usable() -> None:
    def script(fake: FakeAgent) -> None:
        _, tag, _ = fake.request()
        msg = b"bad call"
        fake.send(frame(0xFF, tag, struct.pack("<II", 3, len(msg)) + msg))
        answer_run(fake)

    fake = ready_then(script)
    ch = connected(fake)
    with pytest.raises(AgentError, match="MALFORMED: bad call"):
        ch.run(PROG, 1)
    assert ch.run(PROG, 2).seq == 2
    fake.join()


def test_unsolicited_frame_is_a_violation() -> None:
    def script(fake: FakeAgent) -> None:
        answer_run(fake)
        fake.send(frame(0x83, 5, b""))

    fake = ready_then(script)
    ch = connected(fake)
    with pytest.raises(GuestProtocolError, match="agent reply type 0x83 tag 5"):
        ch.run(PROG, 1)
        ch.run(PROG, 2)
    fake.join()


def test_pipelining_keeps_the_window_full_and_results_in_order() -> None:
    seen: list[int] = []

    def script(fake: FakeAgent) -> None:
        queue = []
        for _ in range(20):
            _, tag, payload = fake.request()
            queue.append((tag, struct.unpack_from("<Q", payload)[0]))
            seen.append(len(queue))
            if len(queue) == 4:  # answer only when the host has 4 in flight
                tag, seq = queue.pop(0)
                fake.send(frame(0x83, tag, result_payload(seq, [call_record()])))
        for tag, seq in queue:
            fake.send(frame(0x83, tag, result_payload(seq, [call_record()])))

    fake = ready_then(script)
    ch = connected(fake)
    results = list(ch.run_many(((100 + i, PROG) for i in range(20)), window=4))
    assert [r.seq for r in results] == [100 + i for i in range(20)]
    assert max(seen) == 4
    fake.join()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans())
def test_any_reply_bytes_end_in_a_result_or_a_protocol_error(junk: bytes, framed: bool) -> None:
    def script(fake: FakeAgent) -> None:
        _, tag, _ = fake.request()
        fake.send(frame(0x83, tag, junk) if framed else junk)
        fake.sock.close()

    fake = ready_then(script)
    ch = connected(fake, ChannelLimits(margin_s=0.2))
    with contextlib.suppress(GuestProtocolError):
        ch.run(PROG, 1, Deadline(2))
    fake.join()
