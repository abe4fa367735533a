"""Where results go: vectors in Qdrant (:mod:`.vector_store`), metadata in SQL
(:mod:`.metadata_store`, SQLAlchemy 2 + Alembic migrations under ``migrations/``)."""
