"""The graph stage: open or clone the repository (``repo_source``), list its source
files (``discovery``), extract imports with tree-sitter (``extract/``), resolve them to
files (``resolve/``) with a parse cache by git blob id (``parse_cache``), and build the
file-level graph (``dependency_graph``); ``graph_job`` runs it as one call."""
