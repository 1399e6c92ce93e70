"""`wikimem semantic`: the optional hybrid search's model (fetch it once, see it, remove it)."""

from __future__ import annotations

from pathlib import Path

import click

from wikimem.cli import cli, echo_json, json_option


@cli.group()
def semantic() -> None:
    """Hybrid search: BM25 fused with a small local embedding model.

    Needs the extra: pip install 'wikimem[semantic]' (onnxruntime and tokenizers; no torch).
    `wikimem semantic fetch` puts the model (all-MiniLM-L6-v2, ~90 MB) in the wikimem home
    once; from then on compile embeds new pages, search fuses the two rankings, and nothing
    needs a network. WIKIMEM_SEMANTIC=0 turns it off without removing it.
    """


@semantic.command()
@click.option("--from", "source", type=click.Path(path_type=Path), metavar="PATH",
              help="A model folder or a zip of one instead of downloading: a "
                   "sentence-transformers folder (tokenizer.json with model.onnx, or with "
                   "model.safetensors and config.json, converted here).")
@click.option("--url", metavar="URL",
              help="Where to download from: a Hugging Face repository's resolve/main/ "
                   "address (default: all-MiniLM-L6-v2's; also $WIKIMEM_MODEL_URL).")
@click.option("--force", is_flag=True, help="Fetch again even when a model is in place.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_option
def fetch(source: Path | None, url: str | None, force: bool, quiet: bool, json_: bool) -> None:
    """Put the embedding model in the wikimem home (once; offline afterwards).

    Then `wikimem reindex` in a project embeds its pages now (otherwise its next compile
    does).
    """
    from wikimem.cli.progress import meter
    from wikimem.search import semantic as model

    if source is not None and url is not None:
        raise click.UsageError("Give --from PATH or --url URL, not both.")
    steps = meter(quiet, json_)
    try:
        manifest = model.install(source, url=url, force=force, steps=steps)
    finally:
        steps.close()
    if json_:
        echo_json({**manifest, "folder": str(model.model_dir())})
    elif manifest.get("kept"):
        click.echo(f"The model is already in {model.model_dir()} ({manifest['name']}, "
                   f"{manifest['dim']} dimensions); --force fetches it again.")
    else:
        click.echo(f"Model {manifest['name']} ({manifest['dim']} dimensions) is in "
                   f"{model.model_dir()}; search is hybrid from now on. Run `wikimem reindex` "
                   "in a project to embed its pages now.")


@semantic.command()
@json_option
def status(json_: bool) -> None:
    """Whether the hybrid search is on, and why not."""
    from wikimem.search import semantic as model

    found = model.status()
    if json_:
        echo_json(found)
        return
    click.echo(f"Runtime: {found['runtime']}")
    if found["installed"]:
        manifest = found.get("manifest") or {}
        click.echo(f"Model: {manifest.get('name', found['model'])} in {found['folder']} "
                   f"({manifest.get('dim', '?')} dimensions, from {manifest.get('source', '?')})")
    else:
        click.echo("Model: not fetched (wikimem semantic fetch)")
    if found["switched_off"]:
        click.echo("Hybrid search: off (WIKIMEM_SEMANTIC=0)")
    else:
        click.echo(f"Hybrid search: {'on' if found['enabled'] else 'off'}")


@semantic.command()
@json_option
def remove(json_: bool) -> None:
    """Delete the model from the wikimem home (search goes back to BM25 alone)."""
    from wikimem.search import semantic as model

    removed = model.remove()
    if json_:
        echo_json({"removed": removed, "folder": str(model.model_dir())})
    elif removed:
        click.echo(f"Removed {model.model_dir()}; search is BM25 alone.")
    else:
        click.echo("No model was fetched.")
