"""The history stage: commits -> change coupling (git_log, cochange, history_stage)."""
