"""`wikimem bootstrap`: seed a project's wiki from its repository.

One stage per module, each using only those above it:

- `patterns`: the data files of `bootstrap/` (sources.txt, languages.txt,
  decision-patterns.txt), compiled;
- `layout`: the tree at HEAD described: which files to read, in which role; the layout;
- `extract`: each file read reduced to facts (README, docs, ADRs, rule files, manifests,
  module headers);
- `collect`: the git reader (one streamed `git log`, `git ls-tree`, `git cat-file --batch`);
- `record`: those facts as `bootstrap` observations in the raw log (and a dry run);
- `fold`: the bootstrap log -> `Repo`;
- `summary`: the project in a few words (name, description, project line, agent rules);
- `decisions`: ADRs and decision-stating commits as memory, and the cached digest;
- `pages`: the project/ and history pages.

The compiler calls `pages`, `decisions.memory_state` and the log's names in `record`; the
LLM overview is the compiler's, handed to `pages.pages` (this package imports no compile
module).
"""
