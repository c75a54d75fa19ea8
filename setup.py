"""pip install .: builds the library and the module with CMake and puts both in the package.

The wheel holds pbit/__init__.py, pbit/_pbit*.so and the libpbit.so.0 it links (found through the
module's RUNPATH $ORIGIN). Environment: PBIT_ENABLE_CUDA=OFF leaves the CUDA backend out (it is
built when nvcc is found), CMAKE_BUILD_PARALLEL_LEVEL sets the build jobs.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = Path(self.build_temp).resolve() / "cmake"
        target_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        configure = [
            "cmake", "-S", str(SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DPBIT_BUILD_TESTS=OFF", "-DPBIT_BUILD_BENCH=OFF", "-DPBIT_BUILD_EXAMPLES=OFF",
            "-DPBIT_NATIVE_ARCH=OFF",  # a wheel may be used on another machine of the same kind
            "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN",
            f"-DPBIT_ENABLE_CUDA={os.environ.get('PBIT_ENABLE_CUDA', 'ON')}",
            "-DPBIT_ENABLE_MPI=OFF",  # the wheel ships libpbit, not Open MPI
        ]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build), "--target", "pbit_python", "-j", jobs], check=True)
        target_dir.mkdir(parents=True, exist_ok=True)
        for module in (build / "python" / "pbit").glob("_pbit*.so"):
            shutil.copy2(module, target_dir / module.name)
        shutil.copy2(build / "libpbit.so.0", target_dir / "libpbit.so.0", follow_symlinks=True)


setup(
    packages=["pbit"],
    package_dir={"": "python"},
    ext_modules=[Extension("pbit._pbit", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
