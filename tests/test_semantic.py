"""The hybrid search (`wikimem[semantic]`): a tiny BERT built here goes through the real
paths: conversion to ONNX, `wikimem semantic fetch` (from a folder, a zip and over HTTP),
onnxruntime, the embeddings compile writes beside the index, reindex, doctor, and the
fusion in search. Skipped when the extra is not installed."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

for _module in ("numpy", "onnxruntime", "tokenizers", "onnx", "safetensors"):
    pytest.importorskip(_module)

import numpy as np  # noqa: E402

from tests import tiny_model  # noqa: E402
from wikimem.search import semantic  # noqa: E402
from wikimem.search.vectors import VectorStore, vectors_path, windows  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "tiny-bert")


def wikimem(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=300)


def add_session(project_dir: Path, sid: str, prompts: list[str], day: int) -> None:
    """One Claude Code session through the real adapter and capture (as the hook does)."""
    from wikimem.agents.claude_code import adapter
    from wikimem.capture.observation import format_ts
    from wikimem.capture.observe import capture
    from wikimem.project import Registry

    project = Registry().resolve(str(project_dir))
    start = datetime(2026, 11, day, 9, 0, tzinfo=UTC)
    payloads = [{"hook_event_name": "SessionStart", "source": "startup"}]
    for text in prompts:
        payloads += [{"hook_event_name": "UserPromptSubmit", "prompt": text},
                     {"hook_event_name": "Stop", "stop_hook_active": False,
                      "last_assistant_message": "Done."}]
    for i, payload in enumerate(payloads):
        payload.update(session_id=sid, cwd=str(project_dir))
        capture("claude-code", adapter.normalize(payload), payload, project=project,
                ts=format_ts(start + timedelta(seconds=i)))


def project_files(repo: Path):
    from wikimem.project import Registry

    return Registry().resolve(str(repo))


def test_converted_graph_computes_what_bert_computes(tiny, tmp_path):
    """The ONNX graph written from the safetensors gives the vectors a plain numpy BERT
    gives: the conversion is the network, not an approximation of it."""
    semantic.install(tiny)
    model = semantic.load()
    texts = ["my three sisters", "how many siblings do i have?", "redis cache timeout",
             "the build error . retry the deploy"]
    got = model.embed(texts)
    assert got.shape == (4, tiny_model.HIDDEN)
    np.testing.assert_allclose(got, tiny_model.reference(tiny, texts), atol=1e-4)
    # Padding changes nothing: one text alone or beside a longer one.
    np.testing.assert_allclose(model.embed(texts[:1])[0], got[0], atol=1e-5)


def test_fetch_from_folder_and_zip_then_status_and_remove(tiny, tmp_path, repo):
    done = wikimem("semantic", "fetch", "--from", str(tiny), cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "search is hybrid" in done.stdout
    status = json.loads(wikimem("semantic", "status", "--json", cwd=repo).stdout)
    assert status["enabled"] and status["manifest"]["dim"] == tiny_model.HIDDEN
    assert status["manifest"]["max_tokens"] == 48
    again = wikimem("semantic", "fetch", "--from", str(tiny), cwd=repo)
    assert again.returncode == 0 and "already" in again.stdout
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in tiny.iterdir():
            z.write(f, f"tiny-bert/{f.name}")
    forced = wikimem("semantic", "fetch", "--from", str(archive), "--force", "--json", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["source"] == str(archive.resolve())
    off = wikimem("semantic", "status", "--json", cwd=repo, env={"WIKIMEM_SEMANTIC": "0"})
    assert json.loads(off.stdout)["enabled"] is False
    gone = wikimem("semantic", "remove", cwd=repo)
    assert gone.returncode == 0 and "Removed" in gone.stdout
    assert not semantic.model_dir().exists()


@pytest.mark.parametrize("source", ["missing", "not-a-model", "not-a-zip"])
def test_fetch_from_bad_source_is_a_clear_error_and_installs_nothing(source, tmp_path, repo):
    path = tmp_path / source
    if source == "not-a-model":
        path.mkdir()
        (path / "README.md").write_text("hello")
    elif source == "not-a-zip":
        path.write_text("plain text")
    done = wikimem("semantic", "fetch", "--from", str(path), cwd=repo)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    assert not semantic.model_dir().exists()
    assert not list(semantic.model_dir().parent.glob(".*fetch-*"))


class _Hub(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass


def test_fetch_downloads_over_http_with_progress_and_fails_clearly_offline(tiny, tmp_path,
                                                                           repo):
    """A Hub-shaped folder (onnx/model.onnx, tokenizer.json) served over real HTTP."""
    from wikimem.search.onnx_bert import export

    hub = tmp_path / "hub"
    (hub / "onnx").mkdir(parents=True)
    export(tiny, hub / "onnx" / "model.onnx")
    shutil.copyfile(tiny / "tokenizer.json", hub / "tokenizer.json")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Hub(*a, directory=str(hub)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        done = wikimem("semantic", "fetch", "--url", url, cwd=repo)
        assert done.returncode == 0, done.stderr
        assert "downloading model.onnx" in done.stderr  # the progress, on stderr
        manifest = json.loads((semantic.model_dir() / semantic.MANIFEST).read_text())
        assert manifest["source"] == url and manifest["max_tokens"] == 256
    finally:
        server.shutdown()
        server.server_close()
    # The server gone (offline): the fetched model embeds and searches on its own.
    add_session(repo, "s-sisters", ["Sisters."], 2)
    assert wikimem("compile", cwd=repo).returncode == 0
    assert vectors_path(project_files(repo).index_dir).is_file()
    hits = json.loads(wikimem("search", "--json", "siblings.", cwd=repo).stdout)
    assert [h["title"] for h in hits] == ["Sisters."]
    semantic.remove()
    offline = wikimem("semantic", "fetch", "--url", url, cwd=repo)
    assert offline.returncode == 1
    assert "Could not download" in offline.stderr and "--from PATH" in offline.stderr
    assert not semantic.model_dir().exists()


def test_hybrid_search_finds_what_words_do_not(tiny, repo):
    """'siblings' shares no word with a session about 'my three sisters' (and no stem): BM25
    cannot find it; the model's vectors can. Compile embeds, reindex rebuilds, doctor
    reports, WIKIMEM_SEMANTIC=0 turns it off."""
    add_session(repo, "s-sisters", ["Sisters."], 2)
    add_session(repo, "s-redis", ["Fix the redis cache timeout bug."], 3)
    assert wikimem("semantic", "fetch", "--from", str(tiny), cwd=repo).returncode == 0
    assert wikimem("compile", cwd=repo).returncode == 0
    project = project_files(repo)
    store = vectors_path(project.index_dir)
    assert store.is_file()
    # The question reads to the tiny model exactly as the page's prompt does (cosine 1).
    found = wikimem("search", "--json", "siblings.", cwd=repo)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and "sisters" in hits[0]["title"].lower()
    lexical = wikimem("search", "--json", "siblings.", cwd=repo,
                      env={"WIKIMEM_SEMANTIC": "0"})
    assert json.loads(lexical.stdout) == []
    doctor = wikimem("doctor", "--json", cwd=repo)
    check = next(c for c in json.loads(doctor.stdout) if c["name"] == "semantic")
    assert check["status"] == "PASS" and "2 pages" in check["detail"]
    store.unlink()
    doctor = wikimem("doctor", "--json", cwd=repo)
    check = next(c for c in json.loads(doctor.stdout) if c["name"] == "semantic")
    assert check["status"] == "WARN" and "reindex" in check["fix"]
    assert wikimem("reindex", cwd=repo).returncode == 0
    assert store.is_file()
    assert json.loads(wikimem("search", "--json", "siblings", cwd=repo).stdout)


def compiled_with_model(tiny: Path, repo: Path):
    """One session, the tiny model fetched, compiled: the project."""
    add_session(repo, "s-one", ["Deploy the build after the lint."], 2)
    semantic.install(tiny)
    assert wikimem("compile", cwd=repo).returncode == 0
    return project_files(repo)


def test_embeddings_are_incremental(tiny, repo):
    project = compiled_with_model(tiny, repo)
    store = VectorStore(project.index_dir)
    first = store.load()["meta"]
    add_session(repo, "s-two", ["The postgres database notes page."], 3)
    assert wikimem("compile", cwd=repo).returncode == 0
    second = store.load()["meta"]
    assert len(second["paths"]) == len(first["paths"]) + 1
    kept = dict(zip(first["paths"], first["digests"], strict=True))
    assert all(dict(zip(second["paths"], second["digests"], strict=True))[p] == d
               for p, d in kept.items())
    # Nothing changed: nothing embedded, the file left as it is.
    model = semantic.load()
    from wikimem.search.vectors import page_passages
    from wikimem.wiki.pages import wiki_pages

    passages = {r: page_passages(project.wiki_dir, r) for r in wiki_pages(project.wiki_dir)}
    before = store.path.stat().st_mtime_ns
    assert store.sync(model, passages, complete=True) == 0
    assert store.path.stat().st_mtime_ns == before
    # A page removed from the wiki leaves the file.
    gone = second["paths"][0]
    assert store.sync(model, {}, [gone]) == 0
    assert gone not in store.load()["meta"]["paths"]


def test_passages_of_a_session_are_its_title_and_prompts(tiny, repo):
    """A session is embedded by what the person said (from its transcript page), not by the
    agent's replies, in windows of sentences."""
    from wikimem.search.vectors import page_passages

    long_prompt = " ".join(f"Sentence number {i} is about the cache." for i in range(30))
    add_session(repo, "s-long", ["Why does the redis cache time out?", long_prompt], 4)
    assert wikimem("compile", cwd=repo).returncode == 0
    project = project_files(repo)
    page = next(p for p in (project.wiki_dir / "sessions").glob("*.md")
                if not p.name.endswith(".machine.md"))
    passages = page_passages(project.wiki_dir, str(page.relative_to(project.wiki_dir)))
    # The title is the first prompt: said once.
    assert passages[0] == "Why does the redis cache time out?"
    assert passages[1].startswith("Sentence number 0 is about the cache.")
    assert "Done." not in " ".join(passages)  # the replies
    assert all(len(p) <= 300 for p in passages[1:]) and len(passages) > 3
    transcript = next((project.wiki_dir / "transcripts").glob("*.md"))
    assert page_passages(project.wiki_dir, str(transcript.relative_to(project.wiki_dir))) is None


def test_windows_keep_whole_sentences():
    text = "One two. " * 100
    parts = windows(text, size=50)
    assert all(p.endswith(".") and len(p) <= 50 for p in parts)
    assert " ".join(parts).split() == text.split()
    assert windows("") == []


def test_a_damaged_vectors_file_is_ignored_then_rewritten(tiny, repo):
    project = compiled_with_model(tiny, repo)
    store = vectors_path(project.index_dir)
    store.write_bytes(b"not a numpy file")
    found = wikimem("search", "deploy", cwd=repo)
    assert found.returncode == 0 and "Deploy" in found.stdout  # BM25 still answers
    assert wikimem("reindex", cwd=repo).returncode == 0
    assert VectorStore(project.index_dir).load() is not None


def test_a_page_found_by_meaning_alone_must_be_near_enough(tiny, repo, monkeypatch):
    """Pages no word of the question finds join the hits only above MIN_COSINE; pages BM25
    found are ranked by both lists whatever their cosine."""
    from wikimem.search import index as search_index
    from wikimem.search.index import SearchIndex

    add_session(repo, "s-sisters", ["Sisters."], 2)
    add_session(repo, "s-redis", ["Fix the redis cache timeout bug."], 3)
    semantic.install(tiny)
    assert wikimem("compile", cwd=repo).returncode == 0
    project = project_files(repo)
    index = SearchIndex(project.index_dir, project.wiki_dir)
    assert [h.title for h in index.search("siblings.")][:1] == ["Sisters."]
    monkeypatch.setattr(search_index, "MIN_COSINE", 1.01)
    assert index.search("siblings.") == []
    assert [h.title for h in index.search("redis")] == ["Fix the redis cache timeout bug."]


def _without_runtime(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a process where onnxruntime cannot be imported (the extra not installed)."""
    code = ("import sys; sys.modules['onnxruntime'] = None; from wikimem.entry import main; "
            f"main({list(args)!r})")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


def test_without_the_runtime_fetch_says_what_to_install_and_search_stays_lexical(tiny, repo):
    done = _without_runtime("semantic", "fetch", "--from", str(tiny), cwd=repo)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pip install 'wikimem[semantic]'" in done.stderr
    assert not semantic.model_dir().exists()
    # A model fetched earlier, the runtime gone since: BM25 answers, doctor says why.
    add_session(repo, "s-redis", ["Fix the redis cache timeout bug."], 3)
    semantic.install(tiny)
    assert wikimem("compile", cwd=repo).returncode == 0
    found = _without_runtime("search", "--json", "redis", cwd=repo)
    assert found.returncode == 0, found.stderr
    assert [h["title"] for h in json.loads(found.stdout)] == ["Fix the redis cache timeout bug."]
    doctor = _without_runtime("doctor", "--json", cwd=repo)
    check = next(c for c in json.loads(doctor.stdout) if c["name"] == "semantic")
    assert check["status"] == "WARN" and "onnxruntime" in check["detail"]


def test_a_failed_embedding_leaves_the_compile_whole_and_doctor_says_so(tiny, repo,
                                                                         monkeypatch):
    """The model failing while it embeds (a bad model file, memory): the pages are indexed
    all the same, doctor names the failure, and reindex with a working model clears it."""
    from wikimem.search.index import SearchIndex

    project = compiled_with_model(tiny, repo)
    add_session(repo, "s-two", ["The postgres database notes page."], 3)

    def broken(self, texts):
        raise RuntimeError("the model could not run")

    monkeypatch.setattr(semantic.Model, "embed", broken)
    from wikimem.compile.build import compile_project

    compile_project(project)  # in this process: the broken model is the one used
    index = SearchIndex(project.index_dir, project.wiki_dir)
    assert [h.title for h in index.search("postgres")] == ["The postgres database notes page."]
    store = VectorStore(project.index_dir)
    assert "the model could not run" in store.error()
    doctor = wikimem("doctor", "--json", cwd=repo)
    check = next(c for c in json.loads(doctor.stdout) if c["name"] == "semantic")
    assert check["status"] == "WARN" and "could not run" in check["detail"]
    assert wikimem("reindex", cwd=repo).returncode == 0
    assert store.error() is None and len(store.load()["meta"]["paths"]) == 2
