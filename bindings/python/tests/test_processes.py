"""Two processes: the second writer gets LockedError; a read-only process reads beside the writer."""

import subprocess
import sys
import textwrap

import splaredb
from conftest import TINY

CHILD = textwrap.dedent(
    """
    import sys, splaredb
    path, read_only = sys.argv[1], sys.argv[2] == "ro"
    try:
        db = splaredb.open(path, model=None, read_only=read_only)
    except splaredb.Error as e:
        print(type(e).__name__, e)
    else:
        print("opened", len(db), db.search({1: 1.0}, k=1)[0].key if len(db) else "")
    """
)


def child(path, mode):
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_second_writer_process_is_locked_out(tmp_path):
    path = tmp_path / "db"
    with splaredb.open(path, model=TINY) as db:
        with db.transaction() as txn:
            txn.insert("a", {1: 1.0})
        db.checkpoint()
        out = child(path, "rw")
        assert out.startswith("LockedError database ") and "locked by another writer" in out
        assert child(path, "ro") == "opened 1 a"
    assert child(path, "rw") == "opened 1 a"  # the lock went with the first process's handle
