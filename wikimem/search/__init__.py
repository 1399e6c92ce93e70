"""Search: the Whoosh index over the wiki's pages, and searching it.

Kept empty so importing one module of the package loads only what that module needs; callers
import `SearchIndex` from `wikimem.search.index`. Modules, in import order: `schema`,
`documents`, `rerank`, `snippets`, `whoosh_internals`, `segments`, `scoring`, `store`, `index`;
`uses`, and `whoosh_load` (how the one-shot search path imports Whoosh).
"""
