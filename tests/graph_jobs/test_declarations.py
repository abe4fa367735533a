"""What a file declares, per language (issue 30): real tree-sitter on small snippets written
the way real projects write them."""

from __future__ import annotations

import pytest

from graph_jobs.graph.extract import extract_file, extract_imports


def decls(language: str, src: str) -> dict[str, int]:
    imports, _err, d = extract_file(language, src.encode())
    # the one parse finds the same imports as the import extractor alone
    assert [i.to_tuple() for i in imports] == \
        [i.to_tuple() for i in extract_imports(language, src.encode())[0]]
    return d


PY_ERRORS = '''"""Exceptions."""
from __future__ import annotations


class HTTPError(IOError):
    """An HTTP error occurred."""


class ConnectionError(HTTPError):
    pass


class InvalidURL(HTTPError, ValueError):
    pass


class RequestsWarning(Warning):
    pass
'''

PY_CLI = '''import argparse
import os
import sys

DEFAULT_PORT = 8000


def main(argv=None):
    parser = argparse.ArgumentParser(prog="serve")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    return args.port


if __name__ == "__main__":
    sys.exit(main())
'''

PY_TYPES = '''from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeAlias, Union

Json: TypeAlias = Union[dict, list, str]
Headers = Union[dict, list]


class Color(Enum):
    RED = 1


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Reader(Protocol):
    def read(self) -> bytes: ...
'''

PY_CONFTEST = '''import pytest


@pytest.fixture
def app():
    return object()


@pytest.fixture
def client(app):
    return app
'''

PY_INIT = '''from .api import get, post
from .models import Request, Response
from .exceptions import HTTPError

__all__ = ["get", "post", "Request", "Response", "HTTPError"]
'''


def test_python():
    d = decls("python", PY_ERRORS)
    assert d["exceptions"] == 4 and d["types"] == 4 and not d.get("functions")
    d = decls("python", PY_CLI)
    assert (d["main"], d["cli"], d["cli.argparse"], d["functions"], d["constants"]) == \
        (1, 1, 1, 1, 1)
    assert (d["env"], d["function_lines"], d["lines"]) == (1, 5, 16)
    d = decls("python", PY_TYPES)
    assert (d["enums"], d["records"], d["interfaces"], d["aliases"]) == (1, 1, 1, 2)
    assert not d.get("exceptions")
    d = decls("python", PY_CONFTEST)
    assert d["test_imports"] == 1 and not d.get("tests") and d["functions"] == 2
    d = decls("python", PY_INIT)
    assert d["reexports"] == 5 + 5  # three relative imports of 5 names, and __all__


def test_python_declarations_after_the_last_import_are_read():
    """The import pass reads Python only up to its last import; declarations need all."""
    d = decls("python", "import os\n\n" + "def f():\n    pass\n\n" * 3
              + "class E(Exception):\n    pass\n")
    assert (d["functions"], d["exceptions"]) == (3, 1)


JS_ERRORS = '''class AxiosError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
  toJSON() { return {message: this.message}; }
}
export class CanceledError extends AxiosError {}
export default AxiosError;
'''

JS_CLI = '''#!/usr/bin/env node
const { program } = require('commander');
const DEFAULT_TIMEOUT = 30;
program.option('-d, --debug').parse(process.argv);
const level = process.env.LOG_LEVEL || 'info';
if (process.env.DEBUG) console.log(level, DEFAULT_TIMEOUT);
'''

TS_INDEX = '''export * from './errors';
export { parse, stringify } from './json';
export type { Options } from './types';
import { z } from './z';
export default z;
'''

TS_TYPES = '''export interface Options { timeout?: number }
export type Method = 'get' | 'post';
export enum Level { Debug, Info }
export const VERSION = '1.0.0';
export function isOptions(x: unknown): x is Options { return typeof x === 'object'; }
'''


def test_javascript_and_typescript():
    d = decls("javascript", JS_ERRORS)
    assert d["exceptions"] == 2 and d["types"] == 2 and d["methods"] == 2
    d = decls("javascript", JS_CLI)
    assert d["cli"] == 1 and d["cli.commander"] == 1 and d["main"] == 1
    assert d["env"] == 2 and d["constants"] == 1
    d = decls("typescript", TS_INDEX)
    assert d["reexports"] == 1 + 2 + 1 and not d.get("functions")
    d = decls("typescript", TS_TYPES)
    assert (d["interfaces"], d["aliases"], d["enums"], d["constants"], d["functions"]) == \
        (1, 1, 1, 1, 1)
    d = decls("javascript", "const assert = require('assert');\n"
                            "describe('get', () => { it('works', () => {}); });\n")
    assert d["test_imports"] == 1 and d["tests"] == 2


GO_ERRORS = '''package chi

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = fmt.Errorf("invalid: %w", ErrNotFound)
)

type RouteError struct{ Path string }

func (e *RouteError) Error() string { return "route " + e.Path }
'''

GO_MAIN = '''package main

import (
	"flag"
	"os"

	"github.com/spf13/cobra"
)

const (
	defaultAddr = ":8080"
	defaultMode = "debug"
)

type Mode int

const (
	Debug Mode = iota
	Release
)

func main() {
	addr := flag.String("addr", os.Getenv("ADDR"), "listen address")
	_ = addr
	_ = cobra.Command{}
}
'''

GO_TESTUTIL = '''package testutil

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type Handler interface{ Serve() }

func AssertOK(t *testing.T, err error) { require.NoError(t, err) }
'''


def test_go():
    d = decls("go", GO_ERRORS)
    assert d["exceptions"] == 3 and d["records"] == 1 and d["methods"] == 1
    d = decls("go", GO_MAIN)
    assert d["main"] == 1 and d["cli"] == 2 and d["cli.flag"] == 1 and d["env"] == 1
    assert d["constants"] == 4 and d["enums"] == 1
    d = decls("go", GO_TESTUTIL)
    assert d["test_imports"] == 2 and not d.get("tests") and d["interfaces"] == 1
    assert decls("go", "package x\n\nimport \"testing\"\n\n"
                       "func TestGet(t *testing.T) {}\n")["tests"] == 1
    assert not decls("go", "package lib\n\nfunc main() {}\n").get("main")  # not package main


JAVA_ERROR = '''package com.zaxxer.hikari.pool;

public class PoolInitializationException extends RuntimeException {
   private static final long serialVersionUID = 929872118275916520L;

   public PoolInitializationException(Throwable t) {
      super("Failed to initialize pool: " + t.getMessage(), t);
   }
}
'''

JAVA_MAIN = '''package picocli.example;

import picocli.CommandLine;
import picocli.CommandLine.Option;

public final class Main {
    public static final String NAME = "demo";
    private Main() {}
    public static void main(String[] args) {
        String home = System.getenv("HOME");
        System.exit(new CommandLine(new Main()).execute(args));
    }
}
'''

JAVA_TYPES = '''package x;

import org.junit.Assert;

public interface Converter<F, T> { T convert(F from); }
enum Level { LOW, HIGH }
record Pair(int a, int b) {}
'''


def test_java():
    d = decls("java", JAVA_ERROR)
    assert d["exceptions"] == 1 and d["constants"] == 1
    d = decls("java", JAVA_MAIN)
    assert d["main"] == 1 and d["cli"] == 2 and d["cli.picocli"] == 1 and d["env"] == 1
    assert d["constants"] == 1 and d["functions"] == 1
    d = decls("java", JAVA_TYPES)
    assert (d["interfaces"], d["enums"], d["records"], d["test_imports"]) == (1, 1, 1, 1)


RUST_ERROR = '''use std::fmt;

#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    Syntax(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "error") }
}

impl std::error::Error for Error {}
'''

RUST_LIB = '''//! The crate.
mod error;
mod parser;
pub mod builder;

pub use crate::error::{Error, Result};
pub use crate::parser::Parser;

pub const VERSION: &str = "1.0";
'''

RUST_MAIN = '''use clap::Parser;

#[derive(Parser)]
struct Args { #[arg(short)] verbose: bool }

fn main() {
    let args = Args::parse();
    let home = std::env::var("HOME");
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses() {}
}
'''


def test_rust():
    d = decls("rust", RUST_ERROR)
    assert d["exceptions"] == 2 and d["aliases"] == 1 and d["methods"] == 1
    d = decls("rust", RUST_LIB)
    assert d["reexports"] == 1 + 2 + 1 and d["modules"] == 2 and d["constants"] == 1
    d = decls("rust", RUST_MAIN)
    assert (d["main"], d["cli"], d["cli.clap"], d["env"], d["tests"], d["records"]) == \
        (1, 1, 1, 1, 1, 1)


C_HEADER = '''#ifndef UV_ERRNO_H_
#define UV_ERRNO_H_

#include <errno.h>

#define UV__EOF (-4095)
#define UV__EINVAL (-4071)

typedef enum { UV_OK, UV_EOF } uv_errno_t;

struct uv_buf { char* base; unsigned long len; };

int uv_translate_sys_error(int sys_errno);
const char* uv_strerror(int err);

#endif
'''

CPP_EXC = '''#include <stdexcept>
#include <string>

namespace nlohmann {
namespace detail {
class exception : public std::exception {
  public:
    const char* what() const noexcept override { return m.what(); }
  private:
    std::runtime_error m;
};
class parse_error : public exception {};
using json_pointer_t = std::string;
}  // namespace detail
}  // namespace nlohmann
'''

C_MAIN = '''#include <getopt.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *home = getenv("HOME");
    int c = getopt(argc, argv, "v");
    return c;
}
'''

CPP_TESTUTIL = '''#include "gtest/gtest.h"

namespace testing_util {
inline void ExpectOk(int rc) { EXPECT_EQ(rc, 0); }
}
'''


def test_c_and_cpp():
    d = decls("c", C_HEADER)
    assert (d["constants"], d["enums"], d["records"], d["functions"], d["aliases"]) == \
        (2, 1, 1, 2, 1)
    d = decls("cpp", CPP_EXC)
    assert d["exceptions"] == 2 and d["aliases"] == 1 and d["methods"] == 1
    d = decls("c", C_MAIN)
    assert (d["main"], d["cli"], d["cli.getopt.h"], d["env"]) == (1, 1, 1, 1)
    d = decls("cpp", CPP_TESTUTIL)
    assert d["test_imports"] == 1 and not d.get("tests") and d["functions"] == 1
    assert decls("cpp", '#include <gtest/gtest.h>\nTEST(Format, Args) {\n  EXPECT_TRUE(1);\n}\n'
                        'TEST_F(Fixture, Two) {}\n')["tests"] == 2


def test_a_header_of_includes_passes_them_on():
    d = decls("c", '#include "a.h"\n#include "b.h"\n#include "c.h"\n')
    assert d["reexports"] == 3


@pytest.mark.parametrize("language", ["python", "javascript", "go", "java", "rust", "c"])
def test_broken_files_give_what_they_can(language):
    _imports, had_error, d = extract_file(language, b"(((( }}} class class def fn ;;; \xff\xfe")
    assert had_error and isinstance(d, dict) and all(isinstance(v, int) for v in d.values())


def test_a_wsgi_environ_is_not_the_process_environment():
    d = decls("python", "import os\n\n\ndef app(environ, start_response):\n"
                        "    path = environ['PATH_INFO']\n    return environ.get('QUERY')\n\n\n"
                        "DEBUG = os.environ.get('DEBUG')\n")
    assert d["env"] == 1


def test_the_role_vector_knows_every_kind_of_declared_name():
    from graph_jobs.graph.extract.declarations import NAME_KINDS, NAME_WORDS
    from graph_jobs.roles import role_features

    assert role_features.NAME_KINDS == NAME_KINDS and set(NAME_WORDS.values()) == set(NAME_KINDS)
