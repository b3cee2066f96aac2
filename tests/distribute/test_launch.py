"""``shendu run -n N script.py``: the mpiexec command line it builds, and a real two-worker run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shendu import cli
from shendu.distribute import launch

ROOT = Path(__file__).resolve().parents[2]


def test_mpiexec_command_starts_n_copies_of_this_python():
    command = launch.mpiexec_command(["train.py", "--epochs", "3"], 4, mpiexec="/opt/mpi/bin/mpiexec")
    assert command == ["/opt/mpi/bin/mpiexec", "-n", "4", sys.executable, "train.py", "--epochs", "3"]


def test_mpiexec_command_passes_hosts_and_host_file(tmp_path):
    fake = tmp_path / "mpiexec"          # answers --version like MPICH's Hydra
    fake.write_text("#!/bin/sh\necho 'HYDRA build details:'\n")
    fake.chmod(0o755)
    command = launch.mpiexec_command(["t.py"], 8, hosts="a,b", hostfile="hosts.txt", mpiexec=str(fake))
    assert command[:7] == [str(fake), "-n", "8", "-f", "hosts.txt", "-hosts", "a,b"]
    fake.write_text("#!/bin/sh\necho 'mpirun (Open MPI) 5.0.3'\n")
    command = launch.mpiexec_command(["t.py"], 8, hosts="a,b", mpiexec=str(fake))
    assert command[3:5] == ["--host", "a,b"]


def test_run_rejects_a_missing_script_and_a_bad_worker_count():
    with pytest.raises(ValueError, match="name the script"):
        launch.mpiexec_command([], 2, mpiexec="mpiexec")
    with pytest.raises(ValueError, match="positive number of workers"):
        launch.mpiexec_command(["t.py"], 0, mpiexec="mpiexec")


def test_shendu_run_starts_two_workers(tmp_path):
    try:
        import mpi4py  # noqa: F401
        launch.find_mpiexec()
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"needs MPI: install the distributed extra (pip install -e '.[distributed]'): {error}")
    script = tmp_path / "hello.py"
    script.write_text("import sys, shendu\n"         # one write per worker, so the two lines cannot interleave
                      "sys.stdout.write(f'worker {shendu.distribute.rank()} of {shendu.distribute.size()}\\n')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "shendu", "run", "-n", "2", "--threads", "1", str(script)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted("worker 0 of 2 worker 1 of 2".split())


def test_shendu_run_without_a_script_explains(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "-n", "2"])
    assert "name the script" in capsys.readouterr().err
