"""The README's Python quick start runs as written."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_python_blocks_in_the_readme_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has a Python quick start"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_the_installed_package_is_the_abi3_wheel_with_its_typing():
    # Issue 3 asks for an abi3 wheel for CPython 3.9+: the extension module
    # pip installed is built for the stable ABI (one wheel for every
    # CPython version), and the wheel ships py.typed and the stub.
    import importlib.metadata
    import unistock
    from unistock import _core

    assert pathlib.Path(_core.__file__).name.split(".")[-2] == "abi3", _core.__file__
    package = pathlib.Path(unistock.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_core.pyi").exists()
    assert importlib.metadata.metadata("unistock")["Requires-Python"] == ">=3.9"
