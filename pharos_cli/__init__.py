"""The `pharos` command line: the composition root, above the three packages.

Imports run one way: ``pharos_cli`` → ``serve_app`` / ``cluster`` → ``graph_jobs``
(``serve_app`` may use ``cluster``'s queue; nothing below imports this package).
One module per command group: ``app`` (graph, node2vec, version, info, and the wiring),
``ingest_commands`` (ingest, similar, similar-repos, jobs, map, db), ``info_command``
(where the data folder and the stores are), ``service_commands`` (serve, console,
worker), ``mcp_server`` (mcp); ``output`` prints rows for a terminal or a pipe.
"""
