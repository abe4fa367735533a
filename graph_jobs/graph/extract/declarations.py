"""What a file declares (issue 30): counts read from the same tree-sitter parse as its
imports, for the role vector (:mod:`graph_jobs.roles.role_features`).

Each language brings its own patterns (:data:`PATTERNS`, one entry per registry family of
:mod:`graph_jobs.languages`), and every language answers the same questions:

- ``exceptions``: classes that derive from an exception or error base (Python
  ``class X(ValueError)``, Java ``extends RuntimeException``, JS ``extends Error``, a Go
  ``ErrX = errors.New(...)`` or a type with an ``Error() string`` method, a Rust type
  that implements ``Error``, a C++ class deriving from ``std::exception``);
- ``records`` (dataclasses, named tuples, typed dicts, Java records, Go and Rust and C
  structs), ``enums``, ``interfaces`` (protocols, ABCs, interfaces, traits) and
  ``aliases`` (type aliases, ``typedef``, ``using X =``); ``types`` counts every type;
- ``constants``: module-level constants (upper-case names, ``const``, ``static final``,
  ``#define`` with a value);
- ``functions`` (top-level functions; Java's static methods), ``methods``, and
  ``function_lines``, the lines inside them, over ``lines``, the file's (lines, not
  bytes: renaming the modules a file imports leaves them as they were);
- ``statements``: the top-level declarations and statements;
- ``main``: a main guard (``if __name__ == "__main__"``, ``func main()``, ``fn main()``,
  ``public static void main``, ``int main(``, ``require.main === module``);
- ``cli``: imports of an argument parser or CLI framework (argparse, click, typer,
  cobra, commander, yargs, clap, picocli...), and ``cli.<name>`` for the first one;
- ``env``: reads of the environment or a settings library (``os.environ``, ``getenv``,
  ``process.env``, ``viper``, ``env::var``...), and ``settings`` for a settings class;
- ``test_imports``: imports of a test framework, and ``tests``: tests declared
  (``def test_``, ``func TestX``, ``@Test``, ``#[test]``, ``it(``, ``TEST(``); a file
  that imports a framework and declares no test is test support;
- ``reexports``: names or modules passed on (``from .x import y`` and ``__all__``,
  ``export ... from``, ``pub use``, a header of ``#include`` lines);
- ``imports``: its import statements;
- ``names``: the names it declares (classes, types, functions, constants), and
  ``named_<kind>`` those made of a word of a kind (:data:`NAME_WORDS`: ``ParseError``
  is an error name, ``Config`` a config name, ``parseArgs`` a CLI name).

Only what the file says is read (identifiers inside it included), never its name or path: the role vector must not see
names (they are the bench's outside labels). Values are counts (ints); a key that is
absent is 0.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

from tree_sitter import Node

from graph_jobs.models import RawImport

Decls = dict[str, int]

# The facts a file can have (``cli.<name>`` beside them names its CLI framework).
KEYS = ("lines", "statements", "functions", "methods", "function_lines", "types",
        "exceptions", "records", "enums", "interfaces", "aliases", "constants", "main",
        "cli", "env", "settings", "test_imports", "tests", "reexports", "imports", "modules", "names",
        *(f"named_{k}" for k in ("error", "config", "util", "cli", "version", "types", "test")))

_UPPER = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
_EXC_NAME = re.compile(r"(Error|Exception|Exc|Warning|Fault|Failure|Panic)$")


def _t(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def _name(node: Node) -> str:
    return _t(node.child_by_field_name("name"))


def _items(nodes) -> list[Node]:
    """Named children that are not comments."""
    return [n for n in nodes if "comment" not in n.type]


def _lines(node: Node) -> int:
    return node.end_point[0] - node.start_point[0] + 1


def _add(d: Decls, key: str, n: int = 1) -> None:
    if n:
        d[key] = d.get(key, 0) + n


# --- import tables: which imports say a CLI, a test framework, settings ------------------

CLI_IMPORTS: dict[str, tuple[str, ...]] = {
    "python": ("argparse", "optparse", "getopt", "click", "typer", "docopt", "fire",
               "cleo", "cliff", "plac"),
    "js": ("commander", "yargs", "meow", "minimist", "cac", "@oclif/core", "oclif",
           "caporal", "vorpal", "sade", "arg", "mri", "yargs-parser", "clipanion",
           "node:util:parseArgs"),
    "go": ("flag", "github.com/spf13/cobra", "github.com/spf13/pflag", "github.com/urfave/cli",
           "github.com/alecthomas/kingpin", "github.com/alecthomas/kong",
           "github.com/jessevdk/go-flags"),
    "java": ("picocli", "org.apache.commons.cli", "com.beust.jcommander", "org.kohsuke.args4j",
             "net.sourceforge.argparse4j"),
    "rust": ("clap", "structopt", "argh", "pico_args", "lexopt", "getopts", "bpaf", "gumdrop"),
    "c": ("getopt.h", "cxxopts.hpp", "CLI/CLI.hpp", "argparse/argparse.hpp", "argparse.hpp",
          "boost/program_options.hpp", "gflags/gflags.h", "popt.h", "argp.h", "lyra/lyra.hpp",
          "clara.hpp", "args.hxx", "tclap/CmdLine.h"),
}
TEST_IMPORTS: dict[str, tuple[str, ...]] = {
    "python": ("pytest", "unittest", "hypothesis", "nose", "doctest", "_pytest", "pytest_",
               "responses", "freezegun"),
    "js": ("mocha", "chai", "jest", "@jest/globals", "vitest", "sinon", "tap", "ava", "uvu",
           "node:test", "tape", "expect", "should", "supertest", "nock", "@testing-library",
           "assert", "node:assert", "power-assert", "tsd", "expect-type"),
    "go": ("testing", "github.com/stretchr/testify", "github.com/onsi/ginkgo",
           "github.com/onsi/gomega", "gotest.tools", "github.com/google/go-cmp/cmp",
           "net/http/httptest", "testing/fstest", "testing/iotest", "testing/quick"),
    "java": ("org.junit", "junit.", "org.testng", "org.mockito", "org.assertj", "org.hamcrest",
             "com.google.common.truth", "com.google.testing", "org.easymock"),
    "rust": ("assert_cmd", "assert_fs", "predicates", "pretty_assertions", "proptest",
             "quickcheck", "tempfile", "insta", "criterion", "mockall", "rstest",
             "tokio_test", "serde_test", "trybuild"),
    "c": ("gtest/gtest.h", "gmock/gmock.h", "catch2/", "catch.hpp", "catch_", "doctest",
          "cmocka.h", "unity.h", "CUnit/", "check.h", "munit.h", "greatest.h", "minunit.h",
          "acutest.h", "utest.h", "boost/test/", "criterion/criterion.h"),
}
SETTINGS_IMPORTS: dict[str, tuple[str, ...]] = {
    "python": ("pydantic_settings", "configparser", "dotenv", "environs", "decouple",
               "dynaconf", "tomllib", "tomli", "yaml", "configobj"),
    "js": ("dotenv", "convict", "config", "rc", "cosmiconfig", "nconf", "env-var", "envalid",
           "lilconfig"),
    "go": ("github.com/spf13/viper", "github.com/kelseyhightower/envconfig",
           "github.com/caarlos0/env", "github.com/joho/godotenv", "github.com/BurntSushi/toml",
           "gopkg.in/yaml"),
    "java": ("java.util.Properties", "org.apache.commons.configuration",
             "com.typesafe.config", "org.springframework.boot.context.properties"),
    "rust": ("config", "dotenv", "dotenvy", "envy", "figment", "toml", "serde_yaml", "dirs",
             "directories", "etcetera", "home"),
    "c": ("libconfig.h", "ini.h", "toml.h", "yaml.h", "iniparser.h", "toml++/toml.h"),
}
# Reads of the environment or a settings store, counted in the file's bytes (cheap;
# identifiers are what the file says, so they are fair).
ENV_READS: dict[str, re.Pattern[bytes]] = {
    # (os.environ only: a bare ``environ`` is as often a WSGI request's)
    "python": re.compile(rb"\bos\.environ\b|\bos\.getenv\(|(?<!\.)\bgetenv\(|"
                         rb"\bos\.putenv\(|\bBaseSettings\b|\bconfigparser\b"),
    "js": re.compile(rb"\bprocess\.env\b|\bDeno\.env\b|\bBun\.env\b|\bimport\.meta\.env\b|"
                     rb"\bdotenv\b"),
    "go": re.compile(rb"\bos\.(Getenv|LookupEnv|Environ|Setenv|ExpandEnv)\(|\bviper\.|"
                     rb"\benvconfig\."),
    "java": re.compile(rb"\bSystem\.(getenv|getProperty|getProperties)\(|"
                       rb"\bBoolean\.getBoolean\(|\bInteger\.getInteger\(|\bLong\.getLong\("),
    "rust": re.compile(rb"\benv::(var|var_os|vars|vars_os|set_var)\b|\benv!\(|"
                       rb"\boption_env!\("),
    "c": re.compile(rb"\b(getenv|secure_getenv|_wgetenv|setenv|putenv|_dupenv_s)\s*\("),
}
TEST_DECLS: dict[str, re.Pattern[bytes]] = {
    "python": re.compile(rb"^[ \t]*(?:async[ \t]+)?def[ \t]+test_?\w*[ \t]*\(", re.M),
    "js": re.compile(rb"(?<![\w.$])(?:it|test|describe|suite|specify)"
                     rb"(?:\.(?:only|skip|each))?[ \t]*\([ \t]*[\'\"`]"),
    "go": re.compile(rb"^func[ \t]+(?:Test|Benchmark|Fuzz|Example)\w*\(", re.M),
    "java": re.compile(rb"@(?:Test|ParameterizedTest|RepeatedTest|TestFactory|Theory)\b"),
    "rust": re.compile(rb"#\[(?:[\w:]+::)?test\b"),
    "c": re.compile(rb"^[ \t]*(?:TEST|TEST_F|TEST_P|TYPED_TEST|TEST_CASE|SCENARIO|"
                    rb"TEMPLATE_TEST_CASE|BOOST_AUTO_TEST_CASE|START_TEST|CTEST)\s*\(", re.M),
}


# The names a file declares (its classes, types, functions, constants), per language;
# the words they are made of are counted against :data:`NAME_WORDS`.
DECLARED_NAMES: dict[str, re.Pattern[bytes]] = {
    "python": re.compile(rb"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)|"
                         rb"^([A-Za-z_]\w*)[ \t]*(?::[^=\n]+)?=(?!=)", re.M),
    "js": re.compile(rb"\b(?:class|interface|type|enum|function\*?|namespace)[ \t]+(\w+)|"
                     rb"^(?:export[ \t]+)?(?:const|let|var)[ \t]+(\w+)", re.M),
    "go": re.compile(rb"^func[ \t]+(?:\([^)]*\)[ \t]*)?(\w+)|^type[ \t]+(\w+)|"
                     rb"^[ \t]+(\w+)[ \t]+(?:struct|interface)\b|^(?:const|var)[ \t]+(\w+)",
                     re.M),
    "java": re.compile(rb"\b(?:class|interface|enum|record|@interface)[ \t]+(\w+)|"
                       rb"\bstatic[ \t]+final[ \t]+[\w<>\[\], ?]+[ \t]+(\w+)|"
                       rb"^[ \t]+(?:(?:public|protected|private|static|final|abstract|"
                       rb"synchronized|native|default)[ \t]+)+[\w<>\[\], ?]+[ \t]+(\w+)[ \t]*\(",
                       re.M),
    "rust": re.compile(rb"\b(?:fn|struct|enum|trait|type|const|static|mod|union|macro_rules!)"
                       rb"[ \t]+(\w+)"),
    "c": re.compile(rb"^[ \t]*#[ \t]*define[ \t]+(\w+)|"
                    rb"\b(?:struct|class|enum|union|namespace)[ \t]+(\w+)[ \t]*(?:final[ \t]*)?[:{]|"
                    rb"^\}[ \t]*(\w+)[ \t]*;|"
                    rb"^[A-Za-z_][\w:<>*& \t]*?[ \t*&](\w+)[ \t]*\([^;{]*\)[ \t]*(?:const[ \t]*)?"
                    rb"(?:noexcept[ \t]*)?\{?$", re.M),
}
# word -> what it says about a declared name (the role vector's "named_*" features)
NAME_WORDS: dict[str, str] = {w: kind for kind, words in {
    "error": ("error", "errors", "exception", "exceptions", "err", "errno", "fault", "failure",
              "panic", "throw", "raise"),
    "config": ("config", "configs", "configuration", "settings", "setting", "options", "option",
               "conf", "env", "environment", "preferences", "defaults", "opts"),
    "util": ("util", "utils", "helper", "helpers", "utility", "utilities", "misc", "common"),
    "cli": ("cli", "command", "commands", "cmd", "args", "argv", "arg", "flag", "flags", "main",
            "usage", "parser", "subcommand", "prog", "program"),
    "version": ("version", "versions", "release", "semver"),
    "types": ("type", "types", "kind", "interface", "protocol", "typed", "generic"),
    "test": ("test", "tests", "testing", "fixture", "fixtures", "mock", "mocks", "fake", "stub",
             "assert", "expect", "spec"),
}.items() for w in words}
NAME_KINDS = ("error", "config", "util", "cli", "version", "types", "test")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def _name_facts(d: Decls, family: str, data: bytes) -> None:
    """``names``: the names the file declares; ``named_<kind>``: those with a word of
    that kind (:data:`NAME_WORDS`): identifiers inside the file, never its own name."""
    names = 0
    for groups in DECLARED_NAMES[family].findall(data):
        name = next((g for g in (groups if isinstance(groups, tuple) else (groups,)) if g), b"")
        if not name:
            continue
        names += 1
        kinds = {NAME_WORDS.get(w.lower()) for w in _WORD.findall(name.decode("ascii", "replace"))}
        for kind in kinds - {None}:
            _add(d, f"named_{kind}")
    _add(d, "names", names)


def _matches(spec: str, table: tuple[str, ...]) -> str | None:
    for name in table:
        if name.endswith(("/", ".", "_")):
            if spec.startswith(name):
                return name.rstrip("/._")
        elif spec == name or spec.startswith((name + ".", name + "/", name + "::")):
            return name
    return None


def _import_facts(d: Decls, family: str, imports: list[RawImport], data: bytes) -> None:
    # a Java file's package clause and same-package names are not imports
    imports = [i for i in imports if i.names != ("package",) and i.kind != "same-package"]
    _add(d, "imports", len(imports))
    cli = None
    for imp in imports:
        spec = imp.spec
        if family == "python" and imp.level:
            continue
        if family == "rust":
            spec = spec.split("::")[0] if not spec.startswith("crate") else ""
        if family == "js" and spec in ("node:util", "util"):
            spec = "node:util:parseArgs" if b"parseArgs" in data else spec
        if (got := _matches(spec, CLI_IMPORTS[family])) is not None:
            _add(d, "cli")
            cli = cli or got
        if _matches(spec, TEST_IMPORTS[family]) is not None:
            _add(d, "test_imports")
        if _matches(spec, SETTINGS_IMPORTS[family]) is not None:
            _add(d, "settings")
    if cli is not None:
        d[f"cli.{cli}"] = 1
    _add(d, "env", len(ENV_READS[family].findall(data)))
    _add(d, "tests", len(TEST_DECLS[family].findall(data)))


# --- per language: the top-level declarations ------------------------------------------

_PY_EXC_BASES = re.compile(r"(Error|Exception|Warning|Exit|Interrupt|Failure)\b")
_PY_ENUM = re.compile(r"\b(Enum|IntEnum|StrEnum|Flag|IntFlag)\b")
_PY_PROTO = re.compile(r"\b(Protocol|ABC|ABCMeta|Generic)\b")
_PY_RECORD = re.compile(r"\b(NamedTuple|TypedDict|BaseModel|Struct)\b")
_PY_RECORD_DECO = re.compile(r"@(\w+\.)*(dataclass|define|frozen|attrs|s|dataclasses?|"
                             r"mutable|model)\b")


def _python_class(d: Decls, node: Node, decorators: str) -> None:
    _add(d, "types")
    bases = _t(node.child_by_field_name("superclasses"))
    if _PY_EXC_BASES.search(bases) or _EXC_NAME.search(_name(node)) and bases:
        _add(d, "exceptions")
    elif _PY_ENUM.search(bases):
        _add(d, "enums")
    elif _PY_PROTO.search(bases):
        _add(d, "interfaces")
    elif _PY_RECORD.search(bases) or _PY_RECORD_DECO.search(decorators):
        _add(d, "records")
    if "BaseSettings" in bases or "Settings" in _name(node) and "BaseModel" in bases:
        _add(d, "settings")
    body = node.child_by_field_name("body")
    for c in body.named_children if body is not None else ():
        if c.type == "decorated_definition":
            c = c.child_by_field_name("definition")
        if c is not None and c.type == "function_definition":
            _add(d, "methods")


def _python(d: Decls, root: Node, data: bytes) -> None:
    for node in _items(root.named_children):
        _add(d, "statements")
        decorators = ""
        if node.type == "decorated_definition":
            decorators = " ".join(_t(c) for c in node.named_children if c.type == "decorator")
            inner = node.child_by_field_name("definition")
            node = inner if inner is not None else node
        if node.type == "function_definition":
            _add(d, "functions")
            _add(d, "function_lines", _lines(node))
        elif node.type == "class_definition":
            _python_class(d, node, decorators)
        elif node.type == "type_alias_statement":
            _add(d, "aliases")
        elif node.type == "if_statement":
            cond = _t(node.child_by_field_name("condition"))
            if "__name__" in cond and "__main__" in cond:
                d["main"] = 1
        elif node.type == "expression_statement" and node.named_child_count:
            a = node.named_children[0]
            if a.type != "assignment":
                continue
            left, right = a.child_by_field_name("left"), a.child_by_field_name("right")
            name, typ = _t(left), _t(a.child_by_field_name("type"))
            if name == "__all__" and right is not None:
                _add(d, "reexports", sum(c.type == "string" for c in right.named_children))
            elif "TypeAlias" in typ or right is not None and re.match(
                    r"^(typing\.)?(Union|Optional|Callable|Literal|TypeVar|NewType|"
                    r"Dict|List|Tuple|Mapping)\b", _t(right)):
                _add(d, "aliases")
            elif left is not None and left.type == "identifier" and _UPPER.match(name):
                _add(d, "constants")
        elif node.type == "import_from_statement":
            mod = node.child_by_field_name("module_name")
            if mod is not None and mod.type == "relative_import":
                _add(d, "reexports", max(1, len(node.children_by_field_name("name"))))


_JS_EXC = re.compile(r"\bextends\s+([\w.]*(Error|Exception))\b")


def _js_decl(d: Decls, node: Node) -> None:
    t = node.type
    if t in ("function_declaration", "generator_function_declaration", "function_signature"):
        _add(d, "functions")
        _add(d, "function_lines", _lines(node))
    elif t in ("class_declaration", "abstract_class_declaration", "class"):
        _add(d, "types")
        heritage = next((c for c in node.named_children if c.type == "class_heritage"), None)
        if _JS_EXC.search(_t(heritage)):
            _add(d, "exceptions")
        elif t == "abstract_class_declaration":
            _add(d, "interfaces")
        body = node.child_by_field_name("body")
        _add(d, "methods", sum(c.type in ("method_definition", "method_signature")
                               for c in (body.named_children if body is not None else ())))
    elif t == "interface_declaration":
        _add(d, "types")
        _add(d, "interfaces")
    elif t == "type_alias_declaration":
        _add(d, "types")
        _add(d, "aliases")
    elif t == "enum_declaration":
        _add(d, "types")
        _add(d, "enums")
    elif t in ("lexical_declaration", "variable_declaration"):
        const = _t(node).startswith("const")
        for v in node.named_children:
            if v.type != "variable_declarator":
                continue
            value = v.child_by_field_name("value")
            if value is not None and value.type in ("arrow_function", "function_expression",
                                                    "function"):
                _add(d, "functions")
                _add(d, "function_lines", _lines(value))
            elif value is not None and value.type == "class":
                _js_decl(d, value)
            elif const and _UPPER.match(_name(v)):
                _add(d, "constants")
    elif t in ("module", "internal_module", "ambient_declaration"):
        body = node.child_by_field_name("body")
        for c in (body.named_children if body is not None else node.named_children):
            _js_decl(d, c)


def _js(d: Decls, root: Node, data: bytes) -> None:
    for node in _items(root.named_children):
        _add(d, "statements")
        if node.type == "export_statement":
            decl = node.child_by_field_name("declaration")
            if node.child_by_field_name("source") is not None:  # export ... from '...'
                clause = next((c for c in node.named_children if c.type == "export_clause"),
                              None)
                _add(d, "reexports", max(1, clause.named_child_count if clause else 1))
            elif decl is not None:
                _js_decl(d, decl)
            else:
                value = node.child_by_field_name("value")
                if value is not None:
                    _js_decl(d, value)
        elif node.type == "expression_statement":
            text = _t(node)
            if text.startswith(("module.exports", "exports.")):
                if "require(" in text and text.count("require(") >= 1 and len(text) < 400:
                    _add(d, "reexports", text.count("require("))
            elif "require.main" in text:
                d["main"] = 1
        elif node.type == "if_statement":
            cond = _t(node.child_by_field_name("condition"))
            if "require.main" in cond or "import.meta.main" in cond:
                d["main"] = 1
        else:
            _js_decl(d, node)
    if data.startswith(b"#!"):
        d["main"] = 1


def _go(d: Decls, root: Node, data: bytes) -> None:
    package_main = False
    for node in _items(root.named_children):
        _add(d, "statements")
        t = node.type
        if t == "package_clause":
            package_main = _t(node).split()[-1:] == ["main"]
        elif t == "function_declaration":
            _add(d, "functions")
            _add(d, "function_lines", _lines(node))
            if _name(node) == "main":
                d["main"] = int(package_main) or d.get("main", 0)
        elif t == "method_declaration":
            _add(d, "methods")
            _add(d, "function_lines", _lines(node))
            result = _t(node.child_by_field_name("result"))
            if _name(node) == "Error" and result == "string":
                _add(d, "exceptions")
        elif t == "type_declaration":
            for spec in node.named_children:
                _add(d, "types")
                if spec.type == "type_alias":
                    _add(d, "aliases")
                    continue
                typ = spec.child_by_field_name("type")
                tt = typ.type if typ is not None else ""
                if tt == "struct_type":
                    _add(d, "records")
                elif tt == "interface_type":
                    _add(d, "interfaces")
                else:
                    _add(d, "aliases")  # a defined type over another (often an enum's)
        elif t == "const_declaration":
            specs = [s for s in node.named_children if s.type == "const_spec"]
            _add(d, "constants", len(specs))
            if len(specs) > 1 and b"iota" in (node.text or b""):
                _add(d, "enums")
        elif t == "var_declaration":
            specs = [c for c in node.named_children if c.type == "var_spec"]
            for c in node.named_children:
                if c.type == "var_spec_list":
                    specs += [s for s in c.named_children if s.type == "var_spec"]
            for spec in specs:
                name = _t(spec.child_by_field_name("name"))
                if re.match(r"^[Ee]rr[A-Z]", name) or re.search(
                        r"errors\.New\(|fmt\.Errorf\(", _t(spec)):
                    _add(d, "exceptions")
    if package_main and d.get("main"):
        d["main"] = 1


_JAVA_EXC = re.compile(r"(Exception|Error|Throwable)\b")


def _java_type(d: Decls, node: Node, top: bool) -> None:
    t = node.type
    _add(d, "types")
    if t == "class_declaration":
        sup = _t(node.child_by_field_name("superclass"))
        if _JAVA_EXC.search(sup):
            _add(d, "exceptions")
        elif "abstract" in _t(next((c for c in node.children if c.type == "modifiers"), None)):
            _add(d, "interfaces")
    elif t in ("interface_declaration", "annotation_type_declaration"):
        _add(d, "interfaces")
    elif t == "enum_declaration":
        _add(d, "enums")
    elif t == "record_declaration":
        _add(d, "records")
    body = node.child_by_field_name("body")
    for c in body.named_children if body is not None else ():
        if c.type == "enum_body_declarations":
            for cc in c.named_children:
                _java_member(d, cc)
        else:
            _java_member(d, c)


def _java_member(d: Decls, c: Node) -> None:
    mods = _t(next((m for m in c.children if m.type == "modifiers"), None))
    if c.type == "method_declaration":
        static = "static" in mods
        _add(d, "functions" if static else "methods")
        _add(d, "function_lines", _lines(c))
        if static and _name(c) == "main" and "String" in _t(c.child_by_field_name("parameters")):
            d["main"] = 1
    elif c.type in ("field_declaration", "constant_declaration"):
        if c.type == "constant_declaration" or "static" in mods and "final" in mods:
            _add(d, "constants", sum(v.type == "variable_declarator" for v in c.named_children))
    elif c.type in ("class_declaration", "interface_declaration", "enum_declaration",
                    "record_declaration", "annotation_type_declaration"):
        _java_type(d, c, False)


def _java(d: Decls, root: Node, data: bytes) -> None:
    for node in _items(root.named_children):
        _add(d, "statements")
        if node.type in ("class_declaration", "interface_declaration", "enum_declaration",
                         "record_declaration", "annotation_type_declaration"):
            _java_type(d, node, True)


def _rust_items(d: Decls, items: list[Node], top: bool) -> None:
    for node in items:
        t = node.type
        if top:
            _add(d, "statements")
        pub = any(c.type == "visibility_modifier" for c in node.children)
        if t == "function_item":
            _add(d, "functions" if top else "methods")
            _add(d, "function_lines", _lines(node))
            if top and _name(node) == "main":
                d["main"] = 1
        elif t == "struct_item" or t == "union_item":
            _add(d, "types")
            _add(d, "records")
            if _EXC_NAME.search(_name(node)):
                _add(d, "exceptions")
        elif t == "enum_item":
            _add(d, "types")
            if _EXC_NAME.search(_name(node)):
                _add(d, "exceptions")
            else:
                _add(d, "enums")
        elif t == "trait_item":
            _add(d, "types")
            _add(d, "interfaces")
        elif t == "type_item":
            _add(d, "types")
            _add(d, "aliases")
        elif t in ("const_item", "static_item"):
            _add(d, "constants")
        elif t == "use_declaration" and pub:
            arg = _t(node.child_by_field_name("argument"))
            _add(d, "reexports", max(1, arg.count(",") + 1))
        elif t == "mod_item":
            body = node.child_by_field_name("body")
            if body is None:
                _add(d, "reexports" if pub else "modules")
            elif "test" not in _name(node):
                _rust_items(d, body.named_children, False)
        elif t == "impl_item":
            trait = _t(node.child_by_field_name("trait"))
            if re.search(r"(^|::)Error$", trait):
                _add(d, "exceptions")
            body = node.child_by_field_name("body")
            for c in body.named_children if body is not None else ():
                if c.type == "function_item":
                    _add(d, "methods")
                    _add(d, "function_lines", _lines(c))
        elif t == "macro_invocation" and _t(node).startswith(("error_chain", "quick_error")):
            _add(d, "exceptions")


def _rust(d: Decls, root: Node, data: bytes) -> None:
    _rust_items(d, _items(root.named_children), True)


_C_WRAPPERS = ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif",
               "linkage_specification", "declaration_list", "namespace_definition",
               "template_declaration", "export_declaration")
_CPP_EXC = re.compile(r"\b(std::)?(exception|runtime_error|logic_error|invalid_argument|"
                      r"out_of_range|system_error|\w*Exception|\w*_error|\w*Error)\b")


def _c_type(d: Decls, node: Node) -> None:
    t = node.type
    if node.child_by_field_name("body") is None:
        return  # a use or forward declaration, not a definition
    _add(d, "types")
    if t == "enum_specifier":
        _add(d, "enums")
        return
    bases = next((c for c in node.named_children if c.type == "base_class_clause"), None)
    if bases is not None and _CPP_EXC.search(_t(bases)):
        _add(d, "exceptions")
    elif t in ("struct_specifier", "union_specifier"):
        _add(d, "records")
    body = node.child_by_field_name("body")
    for c in body.named_children if body is not None else ():
        if c.type == "function_definition" or c.type in ("field_declaration", "declaration") \
                and c.child_by_field_name("declarator") is not None \
                and c.child_by_field_name("declarator").type == "function_declarator":
            _add(d, "methods")
        if c.type == "function_definition":
            _add(d, "function_lines", _lines(c))
    if b"virtual" in (body.text or b"") and b"= 0" in (body.text or b""):
        _add(d, "interfaces")


def _c_items(d: Decls, items: list[Node]) -> None:
    for node in items:
        t = node.type
        if t in _C_WRAPPERS:
            body = node.child_by_field_name("body")
            _c_items(d, _items(body.named_children if body is not None and t != "preproc_if"
                               else node.named_children))
            continue
        _add(d, "statements")
        if t == "preproc_include":
            continue
        if t == "function_definition":
            _add(d, "functions")
            _add(d, "function_lines", _lines(node))
            decl = _t(node.child_by_field_name("declarator"))
            if re.match(r"^\s*(\w+\s*::\s*)?main\s*\(", decl) or re.match(r"^w?main\s*\(", decl):
                d["main"] = 1
        elif t == "declaration":
            decl = node.child_by_field_name("declarator")
            while decl is not None and decl.type in ("pointer_declarator",
                                                     "reference_declarator"):
                decl = decl.child_by_field_name("declarator") or (
                    decl.named_children[-1] if decl.named_child_count else None)
            if decl is not None and decl.type == "function_declarator":
                _add(d, "functions")  # a prototype: what a header declares
            elif "const" in _t(node).split("=")[0].split():
                _add(d, "constants")
            typ = node.child_by_field_name("type")
            if typ is not None and typ.type in ("struct_specifier", "class_specifier",
                                                "enum_specifier", "union_specifier"):
                _c_type(d, typ)
        elif t in ("struct_specifier", "class_specifier", "enum_specifier", "union_specifier"):
            _c_type(d, node)
        elif t == "type_definition":
            _add(d, "aliases")
            typ = node.child_by_field_name("type")
            if typ is not None and typ.type in ("struct_specifier", "enum_specifier",
                                                "union_specifier"):
                _c_type(d, typ)
        elif t == "alias_declaration":
            _add(d, "aliases")
        elif t == "preproc_def" and node.child_by_field_name("value") is not None:
            _add(d, "constants")
        elif t == "preproc_function_def":
            _add(d, "functions")


def _c(d: Decls, root: Node, data: bytes) -> None:
    _c_items(d, _items(root.named_children))
    inc = sum(1 for _ in re.finditer(rb"^\s*#\s*include\b", data, re.M))
    if inc and inc >= max(1, d.get("statements", 0) - 2) and not d.get("functions"):
        _add(d, "reexports", inc)  # a header of includes: it passes the others on


PATTERNS: dict[str, Callable[[Decls, Node, bytes], None]] = {
    "python": _python, "js": _js, "go": _go, "java": _java, "rust": _rust, "c": _c,
}


def declarations_of(family: str, root: Node, data: bytes, imports: list[RawImport]) -> Decls:
    """The counts above for one parsed file (``family``: the registry's)."""
    walk = PATTERNS.get(family)
    if walk is None:
        return {}
    d: Decls = {"lines": data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)}
    with contextlib.suppress(RecursionError):  # a deeply nested file keeps what was counted
        walk(d, root, data)
    _import_facts(d, family, imports, data)
    _name_facts(d, family, data)
    return {k: int(v) for k, v in d.items() if v}
