"""mbcheck.py - helpers shared by the end-to-end tests' Python checks (lib.sh puts this folder on
PYTHONPATH)."""
import h5py


def theta(run_dir):
    """The weights of a finished run: RUN_DIR/model.h5, which must be marked complete."""
    with h5py.File(run_dir + "/model.h5", "r") as f:
        assert f.attrs["complete"] == 1
        return f["model/theta"][()]
