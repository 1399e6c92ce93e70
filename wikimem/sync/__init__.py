"""Team memory over plain git remotes (`wikimem remote set`, `wikimem sync`, claims across
machines): see docs/ARCHITECTURE.md, "Team memory". Never imported on the hook path."""
