import json
import os

from wikimem import rawlog
from wikimem.observation import Observation, new_id


def obs(key, session="s1", kind="prompt", ts="2026-01-01T00:00:00.000Z", **data):
    return Observation(id=new_id(), key=key, session=session, agent="claude-code", kind=kind,
                       ts=ts, cwd="/x", data=data)


def test_ids_sort_by_time_and_are_unique():
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert new_id(1000) < new_id(2000)
    assert ids[0][14] == "7"  # UUID version 7


def test_round_trip_and_schema_fields(tmp_path):
    o = obs("p-1", prompt="hello")
    assert rawlog.append(tmp_path, o)
    line = (tmp_path / "s1.jsonl").read_text()
    assert list(json.loads(line)) == ["v", "id", "key", "session", "agent", "kind", "ts", "cwd",
                                      "data"]
    back = rawlog.read(tmp_path / "s1.jsonl").observations
    assert back == [o]


def test_agent_ids_are_unique_per_session_payload_hashes_only_consecutively(tmp_path):
    assert rawlog.append(tmp_path, obs("u-a"))
    assert rawlog.append(tmp_path, obs("p-continue"))
    assert not rawlog.append(tmp_path, obs("p-continue"))  # immediate re-delivery
    assert not rawlog.append(tmp_path, obs("u-a"))  # same agent id, any time later
    assert rawlog.append(tmp_path, obs("u-b"))
    assert rawlog.append(tmp_path, obs("p-continue"))  # typed again after other events
    assert len(rawlog.read(tmp_path / "s1.jsonl").observations) == 4


def test_files_are_private(tmp_path):
    raw = tmp_path / "raw"
    rawlog.append(raw, obs("p-1"))
    assert (raw.stat().st_mode & 0o777) == 0o700
    assert ((raw / "s1.jsonl").stat().st_mode & 0o777) == 0o600


def test_partial_last_line_is_skipped_and_isolated(tmp_path):
    rawlog.append(tmp_path, obs("p-1"))
    with open(tmp_path / "s1.jsonl", "ab") as f:
        f.write(b'{"v":1,"id":"trunc')  # a writer killed mid-append
    first = rawlog.read(tmp_path / "s1.jsonl")
    assert len(first.observations) == 1 and not first.bad_lines
    rawlog.append(tmp_path, obs("p-2"))
    result = rawlog.read(tmp_path / "s1.jsonl")
    assert [o.key for o in result.observations] == ["p-1", "p-2"]
    assert result.bad_lines == [2]


def test_read_from_offset_returns_only_new(tmp_path):
    rawlog.append(tmp_path, obs("p-1"))
    end = rawlog.read(tmp_path / "s1.jsonl").end_offset
    rawlog.append(tmp_path, obs("p-2"))
    new = rawlog.read(tmp_path / "s1.jsonl", end)
    assert [o.key for o in new.observations] == ["p-2"]
    assert new.end_offset == os.path.getsize(tmp_path / "s1.jsonl")


def test_hostile_session_ids_stay_inside(tmp_path):
    for sid in ("../../etc/passwd", "a" * 10_000, "", "x/y", ".hidden"):
        rawlog.append(tmp_path, obs("p-" + str(len(sid)), session=sid))
    for p in tmp_path.iterdir():
        assert p.parent == tmp_path
    assert rawlog.session_filename("../../etc").startswith("x-")
