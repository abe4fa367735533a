"""Structural roles of files and whole repositories, comparable across repositories."""
