"""Words that name nothing (:data:`STOPWORDS`): left out of a file's words
(:mod:`graph_jobs.graph.extract.terms`) and of the "uses the same names" of an answer
(:mod:`graph_jobs.relations.related_files`). A leaf module: the ingress reads it without
loading the parser."""

from __future__ import annotations

# Syntax, not names: the keywords of Python, JavaScript/TypeScript, Go, Java, Rust, C and
# C++ (three letters or more) that declare or steer, and common English words. Keywords
# that are also names a design is made of (map, range, match, type, string, list,
# interface, template...) stay.
STOPWORDS = frozenset("""
and assert async await break case catch class const continue def defer del elif else
except export extends false final finally for from func function global goto impl
implements import instanceof let mut namespace nil none nonlocal not null pass private
protected pub public raise return self static struct super switch this throw throws true
try typedef typeof undefined unsafe use var void while with yield extern inline virtual
typename using ifdef ifndef endif pragma dyn crate elif fallthrough chan lambda
the that these those then than there their they them what when which who whom whose
why how all any both each few more most other some such only own same too very can
will just should now are was were been being have has had having does did doing but
because until about against between into through during before after above below
off over under again further once here out nor its our ours you your yours his her
hers him she itself also may might must shall would could
""".split())  # noqa: SIM905 - a word list reads best as words
