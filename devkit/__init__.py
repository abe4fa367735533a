"""What the tests and the benches share, and nothing else imports (issue 28).

Never part of the installed packages (pyproject includes the four packages only), never
imported by them. ``bench/`` imports from here, not from ``tests``; ``tests/support``
keeps what only the tests use, and its old names for these modules still import.

- ``repos``: git repositories built for a run (``make_repo``, ``repo_from_packages``);
- ``import_graphs``: real import graphs and the embedding quality metrics;
- ``grimp_compare``: the Python graph checked against grimp's;
- ``private_services``: a Redis or PostgreSQL server of the run's own;
- ``upstash_gateway``: the Upstash REST protocol over a real Redis;
- ``uvicorn_thread``: an ASGI app served on a loopback port in a thread.
"""
