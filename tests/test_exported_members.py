"""``smsdata.__all__`` lists exactly the public names, sorted; importing stays cheap."""

import subprocess
import sys

import smsdata


def test_all_matches_public_members() -> None:
    public = {name for name in vars(smsdata) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(smsdata, name)).__name__ == "module"}
    assert set(smsdata.__all__) == (public - modules) | set(smsdata._LAZY)
    for name in smsdata._LAZY:
        assert callable(getattr(smsdata, name))
    assert smsdata.__all__ == sorted(smsdata.__all__)


def test_import_does_not_load_heavy_modules() -> None:
    code = "import sys, smsdata; print(sorted(m for m in ('starlette', 'uvicorn', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_receiver_does_not_load_the_compiled_parser() -> None:
    code = "import sys, smsdata.receiver; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
