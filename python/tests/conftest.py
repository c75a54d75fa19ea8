"""The suite runs against the module of a build: ctest sets PYTHONPATH=<build>/python; by hand,
PYTHONPATH=build/release/python /usr/bin/python3 -m pytest python/tests."""
import os

import pytest

import pbit


@pytest.fixture(params=[b for b in ("reference", "cpu", "packed") if b in pbit.backends()])
def backend(request):
    """Every host backend of this build (the CUDA ones are the device kit's)."""
    return request.param


@pytest.fixture
def cli():
    """The pbit command line tool of the same build (PBIT_CLI), or skip."""
    path = os.environ.get("PBIT_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("PBIT_CLI is not set (ctest sets it)")
    return path
