"""The public API: a sorted __all__ whose names all exist."""

import subprocess
import sys

import nettrail


def test_all_is_sorted_and_resolves() -> None:
    assert list(nettrail.__all__) == sorted(nettrail.__all__)
    for name in nettrail.__all__:
        assert hasattr(nettrail, name), name


def test_errors_form_one_tree() -> None:
    for name in nettrail.__all__:
        obj = getattr(nettrail, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, nettrail.NettrailError)


def test_commands_that_do_not_analyse_start_without_numpy() -> None:
    # numpy is the analysis' packet table; lab, snapshot, collect and demo start without it
    code = ("import sys, nettrail\n"
            "from nettrail.cli.main import build_parser\n"
            "for name in ('lab', 'snapshot', 'collect', 'demo'):\n"
            "    build_parser(name)\n"
            "assert 'numpy' not in sys.modules, sorted(m for m in sys.modules if 'nettrail' in m)\n"
            "assert nettrail.analyze_files and 'numpy' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
