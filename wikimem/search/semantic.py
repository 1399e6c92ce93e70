"""The embedding model of the optional hybrid search (`pip install 'wikimem[semantic]'`).

One small sentence-embedding model (all-MiniLM-L6-v2 by default) lives in the wikimem home,
`<home>/models/<name>/`: its ONNX graph, its tokenizer and `wikimem-model.json` (what it is,
where it came from, its fingerprint). `install` puts it there once: downloaded with a
progress bar, or taken from a folder or zip at hand (`--from`), converting a
sentence-transformers folder's safetensors to ONNX when it has no `model.onnx`
(onnx_bert.py). Afterwards everything is offline. `Model.embed` runs it on CPU with
onnxruntime and the `tokenizers` package: no torch (docs/ARCHITECTURE.md says why).

Nothing here is imported by a default install's search: `enabled()` answers from the
environment and one file's existence before any heavy import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wikimem.errors import WikimemError
from wikimem.project import home

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_URL = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/"
MANIFEST = "wikimem-model.json"
# The files of a model folder, and where a Hub repository keeps each.
REMOTE_FILES = {"model.onnx": "onnx/model.onnx", "tokenizer.json": "tokenizer.json",
                "sentence_bert_config.json": "sentence_bert_config.json"}
DEFAULT_MAX_TOKENS = 256
BATCH = 32
INSTALL_HINT = "pip install 'wikimem[semantic]'"

Steps = Callable[[str, int, int | None], None]


def model_dir(name: str = DEFAULT_MODEL) -> Path:
    """Where the model lives: `$WIKIMEM_MODELS/<name>` (models shared by several homes), else
    `<home>/models/<name>`."""
    shared = os.environ.get("WIKIMEM_MODELS", "").strip()
    return (Path(shared) if shared else Path(home()) / "models") / name


def switched_off() -> bool:
    """`WIKIMEM_SEMANTIC=0` turns the hybrid off (search and compile) without removing it."""
    return os.environ.get("WIKIMEM_SEMANTIC", "").strip().lower() in {"0", "off", "false", "no"}


def installed(name: str = DEFAULT_MODEL) -> bool:
    """Whether a model is in the home (a file's existence: no import)."""
    return (model_dir(name) / MANIFEST).is_file()


def missing_runtime() -> str | None:
    """What is missing to run a model, or None when numpy, onnxruntime and tokenizers load."""
    missing = []
    for module in ("numpy", "onnxruntime", "tokenizers"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return f"{', '.join(missing)} not installed ({INSTALL_HINT})" if missing else None


def enabled(name: str = DEFAULT_MODEL) -> bool:
    """Whether search and compile use the hybrid: a model installed, not switched off."""
    return not switched_off() and installed(name)


class Model:
    """A sentence-embedding model from its folder: `embed(texts)` -> unit vectors."""

    def __init__(self, folder: Path) -> None:
        problem = missing_runtime()
        if problem:
            raise WikimemError(f"The semantic search runtime is missing: {problem}.")
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            self.name = str(manifest["name"])
            self.fingerprint = str(manifest["fingerprint"])
            self.max_tokens = int(manifest.get("max_tokens", DEFAULT_MAX_TOKENS))
            self.pooling = str(manifest.get("pooling", "mean"))
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            # Idle threads sleep instead of spinning: a search embeds one short question,
            # and spinning threads slow everything else on a busy machine.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = onnxruntime.InferenceSession(
                str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except Exception as exc:  # (onnxruntime's own errors derive from Exception alone)
            raise WikimemError(
                f"The embedding model in {self.folder} cannot be loaded ({exc}). Fetch it "
                "again: wikimem semantic fetch --force") from exc
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(manifest.get("dim") or 0)

    def embed(self, texts: Sequence[str]) -> Any:
        """The unit vectors of `texts` (a float32 array, one row each, in order)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        out = None
        encoded = self._tokenizer.encode_batch([t or " " for t in texts])
        # Batches of like lengths: padding is wasted work.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            width = max(len(encoded[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encoded[i].ids)
                ids[r, :n], mask[r, :n] = encoded[i].ids, 1
            feed = {"input_ids": ids, "attention_mask": mask,
                    "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {k: v for k, v in feed.items()
                                              if k in self._inputs})[0]
            if self.pooling == "cls":
                vectors = hidden[:, 0, :]
            else:
                vectors = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1,
                                                                            keepdims=True)
            if out is None:  # (the width is the model's: known from its first output)
                self.dim = vectors.shape[1]
                out = np.empty((len(texts), self.dim), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[rows] = vectors / np.maximum(norms, 1e-12)
        return out


_LOADED: dict[str, Model] = {}


def load(name: str = DEFAULT_MODEL) -> Model:
    """The installed model, loaded once per process."""
    folder = model_dir(name)
    key = str(folder)
    if key not in _LOADED:
        if not (folder / MANIFEST).is_file():
            raise WikimemError(f"No embedding model in {folder}. Fetch it: wikimem semantic fetch")
        _LOADED[key] = Model(folder)
    return _LOADED[key]


def forget() -> None:
    """Drop the models loaded in this process (after one is fetched or removed)."""
    _LOADED.clear()


# -- installing ------------------------------------------------------------------------------


def install(source: Path | None = None, *, url: str | None = None, name: str = DEFAULT_MODEL,
            force: bool = False, steps: Steps | None = None) -> dict:
    """Put the model in the home; returns its manifest. Without `source` it is downloaded
    from `url` (a Hub repository's `resolve/main/`, default `DEFAULT_URL`, or
    `$WIKIMEM_MODEL_URL`). A model already there is kept unless `force`."""
    import shutil
    import tempfile

    problem = missing_runtime()
    if problem:
        raise WikimemError(f"Semantic search needs its runtime: {problem}.")
    target = model_dir(name)
    if (target / MANIFEST).is_file() and not force:
        return {**json.loads((target / MANIFEST).read_text(encoding="utf-8")), "kept": True}
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.fetch-", dir=target.parent))
    try:
        if source is None:
            origin = url or os.environ.get("WIKIMEM_MODEL_URL") or DEFAULT_URL
            _download(origin, work, steps)
        else:
            origin = str(Path(source).resolve())
            _from_local(Path(source), work, steps)
        manifest = _finish(work, name, origin, steps)
        if target.exists():
            shutil.rmtree(target)
        os.rename(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    forget()
    return manifest


def remove(name: str = DEFAULT_MODEL) -> bool:
    import shutil

    target = model_dir(name)
    if not target.exists():
        return False
    shutil.rmtree(target)
    forget()
    return True


def _download(origin: str, work: Path, steps: Steps | None) -> None:
    import urllib.error
    import urllib.request

    base = origin if origin.endswith("/") else origin + "/"
    for local, remote in REMOTE_FILES.items():
        address = base + remote
        try:
            with urllib.request.urlopen(address, timeout=60) as response:  # noqa: S310
                total = int(response.headers.get("Content-Length") or 0) or None
                stage = f"downloading {local}"
                done = 0
                if steps:
                    steps(stage, 0, total)
                with open(work / local, "wb") as out:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        done += len(chunk)
                        if steps:
                            steps(stage, done, total)
                if steps:
                    steps(stage, done, done)
        except urllib.error.HTTPError as exc:
            if local == "sentence_bert_config.json" and exc.code == 404:
                continue  # optional: the default length applies
            raise WikimemError(f"Could not download {address}: HTTP {exc.code}. Check the "
                               "address, or give a model folder or zip: wikimem semantic "
                               "fetch --from PATH") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WikimemError(f"Could not download {address} ({reason}). Without a network, "
                               "give a model folder or zip you have: wikimem semantic fetch "
                               "--from PATH") from exc


def _from_local(source: Path, work: Path, steps: Steps | None) -> None:
    """Copy (or convert) the model at `source`, a folder or a zip of one, into `work`."""
    import shutil
    import zipfile

    if not source.exists():
        raise WikimemError(f"{source} does not exist: give a model folder or a zip of one.")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise WikimemError(f"{source} is neither a folder nor a zip of one.")
        unpacked = work / ".unpacked"
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():
                target = (unpacked / member.filename).resolve()
                if not target.is_relative_to(unpacked.resolve()):
                    raise WikimemError(f"{source} holds a path outside itself: "
                                       f"{member.filename!r}; not unpacked.")
            archive.extractall(unpacked)
        found = [p.parent for p in unpacked.rglob("tokenizer.json")]
        if not found:
            raise WikimemError(f"{source} holds no tokenizer.json: not a model.")
        source = min(found, key=lambda p: len(p.parts))
    tokenizer = source / "tokenizer.json"
    if not tokenizer.is_file():
        raise WikimemError(f"{source} has no tokenizer.json: give a sentence-transformers "
                           "model folder (tokenizer.json with model.onnx or model.safetensors).")
    shutil.copyfile(tokenizer, work / "tokenizer.json")
    if (source / "sentence_bert_config.json").is_file():
        shutil.copyfile(source / "sentence_bert_config.json", work / "sentence_bert_config.json")
    if (source / "1_Pooling" / "config.json").is_file():
        shutil.copyfile(source / "1_Pooling" / "config.json", work / "pooling.json")
    onnx_file = next((p for p in (source / "model.onnx", source / "onnx" / "model.onnx")
                      if p.is_file()), None)
    if onnx_file is not None:
        shutil.copyfile(onnx_file, work / "model.onnx")
    elif (source / "model.safetensors").is_file() and (source / "config.json").is_file():
        try:
            from wikimem.search.onnx_bert import export
        except ImportError as exc:
            raise WikimemError(f"Converting {source} needs onnx and safetensors "
                               f"({INSTALL_HINT}).") from exc
        if steps:
            steps("converting to ONNX", 0, 1)
        try:
            export(source, work / "model.onnx")
        except ImportError as exc:
            raise WikimemError(f"Converting {source} needs onnx and safetensors "
                               f"({INSTALL_HINT}).") from exc
        except (ValueError, KeyError, OSError) as exc:
            raise WikimemError(f"{source} could not be converted to ONNX: {exc}") from exc
        if steps:
            steps("converting to ONNX", 1, 1)
    else:
        raise WikimemError(f"{source} has neither model.onnx nor model.safetensors with "
                           "config.json: not a model wikimem can run.")
    shutil.rmtree(work / ".unpacked", ignore_errors=True)


def _finish(work: Path, name: str, origin: str, steps: Steps | None) -> dict:
    """Write the manifest, then load the model and embed a sentence: a model that cannot run
    is never put in place."""
    max_tokens = DEFAULT_MAX_TOKENS
    config = work / "sentence_bert_config.json"
    if config.is_file():
        try:
            max_tokens = int(json.loads(config.read_text(encoding="utf-8"))
                             .get("max_seq_length") or max_tokens)
        except (ValueError, TypeError):
            pass
    pooling = "mean"
    if (work / "pooling.json").is_file():
        try:
            if json.loads((work / "pooling.json").read_text(encoding="utf-8")).get(
                    "pooling_mode_cls_token"):
                pooling = "cls"
        except ValueError:
            pass
    import hashlib  # (here: every search imports this module, and hashlib loads OpenSSL)

    digest = hashlib.sha256()
    for file in ("model.onnx", "tokenizer.json"):
        with open(work / file, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    manifest = {"name": name, "source": origin, "fingerprint": digest.hexdigest()[:16],
                "max_tokens": max_tokens, "pooling": pooling, "dim": 0}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    if steps:
        steps("checking the model", 0, 1)
    vector = Model(work).embed(["wikimem checks that the model runs."])
    manifest["dim"] = int(vector.shape[1])
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    if steps:
        steps("checking the model", 1, 1)
    return manifest


def status(name: str = DEFAULT_MODEL) -> dict:
    """What `wikimem semantic status` and doctor report: runtime, model, switch."""
    folder = model_dir(name)
    out: dict[str, Any] = {"model": name, "folder": str(folder),
                           "runtime": missing_runtime() or "ok",
                           "installed": installed(name), "switched_off": switched_off()}
    if out["installed"]:
        try:
            out["manifest"] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            out["manifest_error"] = str(exc)
    out["enabled"] = out["installed"] and not out["switched_off"] and out["runtime"] == "ok"
    return out
