"""local[N] from Python: a private driver and worker with a fresh secret of
their own (0600, in the cluster's directory), which no default secret
reaches, and which goes with the cluster."""
import os
import stat

import pytest

import kiln
from kiln import _build, _kiln


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    """This user's default secret, if anything makes one, under tmp_path."""
    monkeypatch.delenv("KILN_SECRET_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_local_context_makes_a_fresh_secret(own_home):
    sc = kiln.Context("local[2]", "pytest-local")
    try:
        path = sc._local.secret_file
        assert os.path.dirname(path) == sc._local.dir
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert sorted(sc.parallelize(range(100), 4).map(lambda x: x * 2).collect()) == [2 * x for x in range(100)]
    finally:
        sc.stop()
    assert not os.path.exists(path)
    assert not (own_home / "config").exists()  # the default secret was not needed


def test_local_cluster_refuses_the_default_secret(own_home):
    lc = _kiln.LocalCluster(os.environ.get("KILN_BINDIR") or _build.bindir, 1)
    try:
        with pytest.raises(kiln.KilnError, match="authentication failed"):
            _kiln.Session(lc.master, None, "pytest-default", [])
        s = _kiln.Session(lc.master, lc.secret_file, "pytest-own", [])
        s.close()
    finally:
        lc.stop()


def test_local_cluster_uses_a_named_secret(own_home):
    named = own_home / "named-secret"
    named.write_text("a secret of my own\n")
    named.chmod(0o600)
    lc = _kiln.LocalCluster(os.environ.get("KILN_BINDIR") or _build.bindir, 1, str(named))
    try:
        assert lc.secret_file == str(named)
        _kiln.Session(lc.master, str(named), "pytest-named", []).close()
    finally:
        lc.stop()
    assert named.exists()  # the caller's, left alone
