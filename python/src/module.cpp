// pbit's Python module (issue 22): graphs, topologies, colorings, the sampler and parallel tempering
// from numpy. Results come back as numpy arrays that own the C++ vectors they were computed into (no
// copy); long calls release the GIL; pbit's errors become Python exceptions of the pbit.Error
// hierarchy with the C++ message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <dlpack/dlpack.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <iomanip>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "cli/cli.hpp"
#include "gil.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/backend.hpp"
#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/error.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"
#include "util/memory.hpp"
#include "util/progress.hpp"

namespace py = pybind11;
using namespace pbit;
using pbit_python::AcquireGil;
using pbit_python::ReleaseGil;

namespace {

// ------------------------------------------------------------------ arrays

/// A numpy array that owns `v` (moved to the heap, freed with the array): no copy of the data.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, heap->data(), owner);
}
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  const auto n = static_cast<py::ssize_t>(v.size());
  return to_numpy(std::move(v), {n});
}

py::array as_array(const py::handle& obj, const char* what);

/// A C-contiguous copy of a numpy array (or sequence) as a std::vector, with a clear error for the
/// wrong number of dimensions. Numbers only: bools, integers and floats (numpy would turn the
/// string "12" into 12, None into NaN and drop a complex number's imaginary part).
/// A finite double that float32 cannot hold (|v| > 3.4e38, or nonzero and rounding to 0) is refused
/// with its value; `index` >= 0
/// names its place in an array.
void check_float_range(long double v, const char* what, py::ssize_t index) {  // (long: numpy's longdouble arrives as itself)
  const bool under = v != 0 && static_cast<float>(v) == 0.0f;  // rounds to 0: refused as a graph file's weight is
  if (!std::isfinite(v) || (std::abs(v) <= std::numeric_limits<float>::max() && !under)) return;
  std::ostringstream os;
  os << what << ": value " << v << (index >= 0 ? " (index " + std::to_string(index) + ")" : std::string())
     << (under ? " is too close to 0 for a float32 (it would be read as 0)" : " is beyond float32's range (about 3.4e38)");
  throw InvalidArgument(os.str());
}

template <class T>
std::vector<T> from_numpy(const py::handle& obj, const char* what, int max_dims = 1) {
  if (obj.is_none()) throw InvalidArgument(std::string(what) + ": expected an array of numbers, got None");
  const py::array any = as_array(obj, what);
  if (any.size() > 0 && std::string("biuf").find(any.dtype().kind()) == std::string::npos) {
    throw InvalidArgument(std::string(what) + ": expected numbers, got " + std::string(py::str(any.dtype())) + " values");
  }
  if constexpr (std::is_same_v<T, float>) {
    // numpy's cast turns a finite double past float32's range into inf (with a RuntimeWarning, an error under -W error), which
    // the C++ check would then report as "inf": name the value given instead.
    if (any.size() > 0 && any.dtype().kind() == 'f' && any.dtype().itemsize() > 8) {  // longdouble: 1e-4000 is 0 as a double
      const auto d = py::array_t<long double, py::array::c_style | py::array::forcecast>::ensure(any);
      for (py::ssize_t k = 0; d && k < d.size(); ++k) check_float_range(d.data()[k], what, k);
    } else if (any.size() > 0 && any.dtype().kind() == 'f' && any.dtype().itemsize() > 4) {
      const auto d = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(any);
      for (py::ssize_t k = 0; d && k < d.size(); ++k) check_float_range(d.data()[k], what, k);
    }
  }
  // (ensure gives a null handle where the conversion fails; a default-constructed array_t would be an
  // empty array, read as no values at all.)
  const auto a = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(any);
  if (!a) throw InvalidArgument(std::string(what) + ": expected an array of numbers");
  if (a.ndim() > max_dims) {
    throw InvalidArgument(std::string(what) + ": expected at most " + std::to_string(max_dims) + (max_dims == 1 ? " dimension" : " dimensions") +
                          ", got " + std::to_string(a.ndim()));
  }
  return std::vector<T>(a.data(), a.data() + a.size());
}

/// A Python number (int, float or a numpy scalar; not a string or a bool's lookalike of one) as a
/// float32, with a clear error for anything else and for a finite value past float32's range
/// (non-finite ones pass, for the caller's own check to name).
float float_arg(const py::handle& v, const char* name) {
  if (v.is_none() || py::isinstance<py::str>(v) || py::isinstance<py::bytes>(v) || !PyNumber_Check(v.ptr())) {
    throw InvalidArgument(std::string(name) + " must be a number, got " + std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  PyObject* f = PyNumber_Float(v.ptr());  // an int past a double raises OverflowError; a complex TypeError
  if (!f) {
    PyErr_Clear();
    throw InvalidArgument(std::string(name) + " must be a real number within float32's range (about 3.4e38), got " +
                          std::string(py::str(v)).substr(0, 40));
  }
  const double d = PyFloat_AsDouble(f);
  Py_DECREF(f);
  // A nonzero number that a double already holds as 0 (numpy.longdouble(1e-4000)) is no 0 either.
  if (d == 0 && PyObject_IsTrue(v.ptr()) == 1) {
    throw InvalidArgument(std::string(name) + ": value " + std::string(py::str(v)).substr(0, 40) + " is too close to 0 for a float32 (it would be read as 0)");
  }
  // And a finite one a double holds as infinity (numpy.longdouble(1e4000)): named, not read as inf.
  if (std::isinf(d) && std::string(py::str(v)).find("inf") == std::string::npos) {
    throw InvalidArgument(std::string(name) + ": value " + std::string(py::str(v)).substr(0, 40) + " is beyond float32's range (about 3.4e38)");
  }
  check_float_range(d, name, -1);
  return static_cast<float>(d);
}

/// Node indices (or colors): an integer array (a float 0.7 is not node 0), each within int32 (2^33
/// does not wrap to 0); `one_dim`: a 1-D array, not a scalar (a readout group of one node is [4]).
/// `obj` as a numpy array of any dtype. Where numpy cannot make one (a ragged list) InvalidArgument
/// (a ValueError) names `what` and numpy's reason, also where the object's own __array__ raised a
/// ValueError or TypeError; its other exceptions go through as they are. Never an empty array in its
/// place (which would read as "no values"). The conversion runs once: an __array__ with side effects
/// runs once.
py::array as_array(const py::handle& obj, const char* what) {
  if (py::isinstance<py::array>(obj)) {  // a subclass (a masked array, np.matrix) as a plain ndarray
    py::array a = py::array::ensure(obj);
    if (a) return a;
    throw InvalidArgument(std::string(what) + ": expected an array of numbers");
  }
  py::object a;
  try {
    a = py::module_::import("numpy").attr("asarray")(obj);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_ValueError) && !e.matches(PyExc_TypeError)) throw;
    std::string why = py::str(e.value());
    if (why.size() > 200) why = why.substr(0, 200) + "...";
    throw InvalidArgument(std::string(what) + ": expected an array of numbers (numpy: " + why + ")");
  }
  if (!py::isinstance<py::array>(a)) throw InvalidArgument(std::string(what) + ": expected an array of numbers");
  py::array out = py::reinterpret_steal<py::array>(a.release());
  // A set, dict, generator or other iterator becomes one object of 0 dimensions, which the callers'
  // messages read as a number too large (helper-110): name what it was.
  if (out.ndim() == 0 && out.dtype().kind() == 'O' &&
      (py::isinstance<py::set>(obj) || py::isinstance<py::frozenset>(obj) || py::isinstance<py::dict>(obj) || PyIter_Check(obj.ptr()))) {
    const std::string type = py::str(obj.get_type().attr("__name__"));
    throw InvalidArgument(std::string(what) + ": expected an array of numbers, got a " + type +
                          " (give a list, tuple or numpy array: numpy reads no sequence from a set, dict or generator)");
  }
  return out;
}

/// A BetaSchedule's pieces as (start, length, from, to) tuples: its pickled state, and part of its hash.
py::list beta_pieces(const BetaSchedule& b) {
  py::list pieces;
  for (const BetaSchedule::Piece& p : b.pieces()) pieces.append(py::make_tuple(p.start, p.length, p.from, p.to));
  return pieces;
}

/// Integers as int64: a uint64 past int64's range is refused with its own value, not wrapped negative.
std::vector<int64_t> int64s_from(const py::array& a, const char* what) {
  if (a && a.dtype().kind() == 'u' && a.dtype().itemsize() == 8) {
    const std::vector<uint64_t> u = from_numpy<uint64_t>(a, what);
    std::vector<int64_t> v(u.size());
    for (size_t k = 0; k < u.size(); ++k) {
      if (u[k] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw InvalidArgument(std::string(what) + ": value " + std::to_string(u[k]) + " is out of range");
      }
      v[k] = static_cast<int64_t>(u[k]);
    }
    return v;
  }
  return from_numpy<int64_t>(a, what);
}

std::vector<int32_t> indices_from(const py::handle& obj, const char* what, bool one_dim = false) {
  if (obj.is_none()) throw InvalidArgument(std::string(what) + ": expected an array of integers, got None");
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj)) {
    throw InvalidArgument(std::string(what) + ": expected an array of integers, got a string");
  }
  const py::array a = as_array(obj, what);
  if (a.dtype().kind() == 'O' && a.size() > 0) {  // what numpy makes of a Python int past 64 bits, or of mixed objects
    throw InvalidArgument(std::string(what) + ": expected integers within 64 bits, got objects numpy could not read as such (an "
                          "integer past 2^63 - 1?)");
  }
  if (a.ndim() > 1 || (one_dim && a.ndim() != 1)) {
    throw InvalidArgument(std::string(what) + ": expected a 1-D array of integers, got " + std::to_string(a.ndim()) + " dimensions");
  }
  const char kind = a.dtype().kind();
  if (a.size() > 0 && kind != 'i' && kind != 'u') {
    throw InvalidArgument(std::string(what) + ": expected integers, got " + std::string(py::str(a.dtype())) + " values");
  }
  const std::vector<int64_t> v = int64s_from(a, what);
  std::vector<int32_t> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k] < std::numeric_limits<int32_t>::min() || v[k] > std::numeric_limits<int32_t>::max()) {
      throw InvalidArgument(std::string(what) + ": value " + std::to_string(v[k]) + " is out of range");
    }
    out[k] = static_cast<int32_t>(v[k]);
  }
  return out;
}

/// Per-chain rows (B x W) or one shared row (W): a 2-D array must be exactly rows x width and a 1-D
/// one `width` long (unless `shared` is false: then only a single chain's row), so that a transposed
/// or flattened array is refused rather than read in the wrong order.
void expect_rows(const py::handle& obj, const char* what, int64_t rows, int64_t width, bool shared) {
  if (obj.is_none()) return;  // from_numpy says what is wrong
  const py::array a = as_array(obj, what);
  const auto shape = [&] {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
  };
  const std::string want = "(" + std::to_string(rows) + ", " + std::to_string(width) + ")";
  const std::string alt = shared ? " or (" + std::to_string(width) + ",)" : std::string();
  if (a.ndim() == 2 && (a.shape(0) != rows || a.shape(1) != width)) {
    throw InvalidArgument(std::string(what) + ": expected shape " + want + alt + ", got " + shape());
  }
  if (a.ndim() == 1 && !(a.shape(0) == width && (shared || rows == 1))) {
    throw InvalidArgument(std::string(what) + ": expected shape " + want + alt + ", got " + shape());
  }
}

/// Spins: +-1 values of any integer or float dtype, checked and converted to int8.
std::vector<int8_t> spins_from(const py::handle& obj, const char* what, int max_dims) {
  const std::vector<double> v = from_numpy<double>(obj, what, max_dims);
  std::vector<int8_t> s(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k] != 1.0 && v[k] != -1.0) {  // "value 0.5 (index 3)", as check_float_range says it
      std::ostringstream os;  // (all the digits: 1 + 1e-9 printed as "1" at the default six: helper-94)
      os << what << ": value " << std::setprecision(17) << v[k] << " (index " << k << ") is not a spin; spins are -1 or +1";
      throw InvalidArgument(os.str());
    }
    s[k] = static_cast<int8_t>(v[k]);
  }
  return s;
}

BetaSchedule beta_from(const py::object& beta) {
  if (beta.is_none()) return BetaSchedule::constant(1.0f);
  if (py::isinstance<BetaSchedule>(beta)) return beta.cast<BetaSchedule>();
  if (py::isinstance<py::float_>(beta) || py::isinstance<py::int_>(beta)) {
    double v = 0;
    try {
      v = py::float_(beta).cast<double>();  // an int beyond a double raises OverflowError here
    } catch (const py::error_already_set&) {
      v = std::numeric_limits<double>::infinity();
    }
    if (!(std::abs(v) <= std::numeric_limits<float>::max())) {
      throw InvalidArgument("beta must be a finite number within float range, got " + std::string(py::str(beta)).substr(0, 40));
    }
    check_float_range(v, "beta", -1);  // 1e-300 ran at beta 0, where an array of it was refused
    return BetaSchedule::constant(static_cast<float>(v));
  }
  // Another real number (fractions.Fraction, decimal.Decimal: numpy made them "object values"); a
  // numpy scalar or array goes on as an array.
  if (!py::hasattr(beta, "__array__") && !py::hasattr(beta, "__len__") && !py::isinstance<py::str>(beta) && PyNumber_Check(beta.ptr())) {
    return BetaSchedule::constant(float_arg(beta, "beta"));
  }
  return BetaSchedule::per_sweep(from_numpy<float>(beta, "beta"));
}

Backend backend_from(const std::string& name) { return backend_from_string(name); }

/// progress=None/False: no output; True: pbit's status line on sys.stderr; a callable: called as
/// f(done, total). In every case the GIL is taken about every quarter second and pending signals
/// are checked, so Ctrl-C (KeyboardInterrupt) ends a long run between stretches (without a callback
/// the stretches are not also cut at every 1% of the run: short runs stay whole).
struct PyProgress {
  Sampler::Progress f;
  bool every_percent = true;
};
PyProgress progress_from(const py::object& p, const char* label) {
  if (p.is_none() || (py::isinstance<py::bool_>(p) && !p.cast<bool>())) {
    return {[](int64_t, int64_t) {
              AcquireGil acquire;
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            },
            false};
  }
  py::object cb = p;
  const bool status_line = py::isinstance<py::bool_>(p);
  if (status_line) {
    cb = py::module_::import("pbit").attr("_progress_printer")(label);
  } else if (!PyCallable_Check(p.ptr())) {
    throw InvalidArgument("progress: True, False, None or a callable f(done, total)");
  }
  auto holder = std::make_shared<py::object>(std::move(cb));
  return {[holder, status_line](int64_t done, int64_t total) {
            AcquireGil acquire;
            try {
              (*holder)(done, total);
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            } catch (py::error_already_set&) {  // (it holds the error: none is pending while end() runs)
              if (status_line) {  // Ctrl-C, here or in the printer: the cut status line ends before the traceback
                try {
                  holder->attr("end")();
                } catch (py::error_already_set&) {  // (a second Ctrl-C in it: the first one is reported)
                }
              }
              throw;
            }
          },
          true};
}

/// A DLPack capsule ("dltensor") of a state view: B x N int8, compact row-major, on the CPU or on the
/// sampler's CUDA device. The managed tensor holds the view (and so the buffer) until the consumer
/// calls its deleter, or until the capsule dies unconsumed.
py::capsule dlpack_capsule(const Sampler::StateView& v) {
  struct Ctx {
    Sampler::StateView view;
    int64_t shape[2];
  };
  auto ctx = std::make_unique<Ctx>(Ctx{v, {v.chains, v.nodes}});
  auto mt = std::make_unique<DLManagedTensor>();
  mt->dl_tensor.data = const_cast<int8_t*>(v.data);
  mt->dl_tensor.device = DLDevice{v.on_device ? kDLCUDA : kDLCPU, v.on_device ? v.device : 0};
  mt->dl_tensor.ndim = 2;
  mt->dl_tensor.dtype = DLDataType{kDLInt, 8, 1};
  mt->dl_tensor.shape = ctx->shape;
  mt->dl_tensor.strides = nullptr;  // compact, row-major
  mt->dl_tensor.byte_offset = 0;
  mt->manager_ctx = ctx.get();
  mt->deleter = [](DLManagedTensor* self) {
    delete static_cast<Ctx*>(self->manager_ctx);
    delete self;
  };
  py::capsule cap(mt.get(), "dltensor", [](PyObject* c) {
    if (!PyCapsule_IsValid(c, "dltensor")) return;  // consumed: renamed "used_dltensor", the consumer owns it
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  });
  ctx.release();  // the capsule (or its consumer) owns both from here
  mt.release();
  return cap;
}

/// pbit.cli commands running now (any thread). The interrupt check installed at import does nothing
/// unless one is: only then does it take the GIL to look for Ctrl-C (PyErr_CheckSignals acts on the
/// main thread; elsewhere it returns 0).
std::atomic<int> g_cli_commands{0};
void check_cli_interrupt() {
  if (g_cli_commands.load(std::memory_order_relaxed) == 0) return;
  AcquireGil acquire;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

/// One call at a time on a sampler: a call from a second thread, or from the sampler's own progress
/// callback, while a run has not returned would race with it (and could replace the callback that is
/// running), so it is refused with a clear error instead.
class Busy {
 public:
  explicit Busy(const void* sampler) : obj_(sampler) {
    const std::lock_guard<std::mutex> lock(mu());
    if (!busy().insert(obj_).second) {
      throw InvalidArgument("this sampler is busy: another call on it (from another thread, or from its own progress callback) "
                            "has not returned; use one sampler per thread");
    }
  }
  ~Busy() {
    const std::lock_guard<std::mutex> lock(mu());
    busy().erase(obj_);
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::set<const void*>& busy() {
    static std::set<const void*> s;
    return s;
  }
  const void* obj_;
};

/// Sets a sampler's progress callback for one call, and clears it (with the GIL held: it may hold a
/// Python object) when the call ends, normally or by an exception.
template <class S>
struct ProgressScope {
  S& s;
  ProgressScope(S& sampler, PyProgress p) : s(sampler) { s.set_progress(std::move(p.f), p.every_percent); }
  ~ProgressScope() { s.set_progress({}); }
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;
};

/// v as a Python int (its __index__), or InvalidArgument naming the argument, its range and v's type.
py::object index_arg(const py::handle& v, const std::string& name, const std::string& range) {
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
  if (!i) {
    PyErr_Clear();
    throw InvalidArgument(name + " must be an integer in " + range + ", got " + std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  return i;
}

// graph_snapshot_note: a call that releases the GIL works on a copy of its Graph taken while it held
// the GIL. Another thread may assign g.biases or g.edge_weights meanwhile (the setters hold the GIL
// and reallocate the arrays): reading the caller's Graph then was a data race, which a review saw as
// a written file mixing five assignments, and which could read freed memory.

/// A file path from a str or an os.PathLike (pathlib.Path): an embedded NUL byte is refused, as
/// Python's open() refuses it, instead of the C library reading the path only up to it.
std::string path_arg(const py::handle& p, const char* what = "path") {
  py::object s;
  try {
    s = py::module_::import("os").attr("fspath")(p);
  } catch (const py::error_already_set&) {
    throw InvalidArgument(std::string(what) + " must be a str or an os.PathLike, got " + std::string(py::str(py::type::of(p).attr("__name__"))));
  }
  if (!py::isinstance<py::str>(s)) throw InvalidArgument(std::string(what) + " must be a str path (bytes paths are not taken)");
  // The file system's bytes (os.fsencode): a name that is not UTF-8, as os.listdir returns it (with
  // surrogate escapes), is the file it names, as it is for Python's open().
  const std::string out = py::bytes(py::module_::import("os").attr("fsencode")(s));
  if (out.find('\0') != std::string::npos) throw InvalidArgument(std::string(what) + ": embedded null byte");
  return out;
}

/// An integer argument in [lo, hi], or a pbit error naming it: pybind's own conversion of an int too
/// large for the C++ type is a TypeError listing the overloads, which names neither the argument nor
/// the range. Takes anything with __index__ (numpy integers too).
int64_t int_arg(const py::handle& v, const char* name, int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  const py::object i = index_arg(v, name, range);
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0 || x < lo || x > hi) {
    throw InvalidArgument(std::string(name) + " must be in " + range + ", got " + std::string(py::str(i)));
  }
  return x;
}

/// A schedule of three Python integers, each in a config's range, checked whole as a config's is.
SamplingSchedule schedule_arg(const py::handle& warmup, const py::handle& samples, const py::handle& steps) {
  constexpr int64_t most = SamplingSchedule::kMaxField;
  const SamplingSchedule s{int_arg(warmup, "warmup", 0, most), int_arg(samples, "samples", 0, most),
                           int_arg(steps, "steps_per_sample", 1, most)};
  s.validate();
  return s;
}

/// A seed: an integer in [0, 2^64).
uint64_t seed_arg(const py::handle& v) {
  const py::object i = index_arg(v, "seed", "[0, 2^64)");
  const unsigned long long x = PyLong_AsUnsignedLongLong(i.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    throw InvalidArgument("seed must be in [0, 2^64), got " + std::string(py::str(i)));
  }
  return x;
}

SamplerOptions options_from(const std::string& backend, uint64_t seed, int threads, const std::string& contract) {
  SamplerOptions o;
  o.backend = backend_from(backend);
  o.seed = seed;
  o.num_threads = threads;  // 0 (all cores) .. 4096: int_arg checked it
  if (contract == "exact") {
    o.contract = RngContract::exact;
  } else if (contract == "fast") {
    o.contract = RngContract::fast;
  } else {
    throw InvalidArgument("contract must be 'exact' or 'fast', got '" + contract + "'");
  }
  return o;
}

ObserverSpec observer_from(bool moments, bool energy, const py::object& groups, const py::object& snapshots) {
  ObserverSpec spec;
  spec.moments = moments;
  spec.energy = energy;
  if (!groups.is_none()) {
    if (!py::isinstance<py::iterable>(groups)) {
      throw InvalidArgument("readout_groups: expected a list of node lists, got " + std::string(py::str(py::type::of(groups).attr("__name__"))));
    }
    for (const py::handle g : groups) spec.readout_groups.push_back(indices_from(g, "readout_groups (a list of node lists)", true));
  }
  if (!snapshots.is_none()) {
    const py::array a = as_array(snapshots, "snapshot_sweeps");  // sweep counts: integers (1.9 is not sweep 1)
    if (a.size() > 0 && a.dtype().kind() != 'i' && a.dtype().kind() != 'u') {
      throw InvalidArgument("snapshot_sweeps: expected integers, got " + std::string(py::str(a.dtype())) + " values");
    }
    spec.snapshot_sweeps = int64s_from(a, "snapshot_sweeps");
  }
  return spec;
}

/// Observations as a Python object of numpy arrays (each owning its vector).
struct PyObservations {
  int32_t num_chains = 0;
  int64_t num_samples = 0, sweeps = 0;
  py::object node_sum, edge_sum, node_mean, edge_corr, energy, readout_sum, readout_mean, snapshots;
};

/// What was asked is an array, empty where there is nothing (an edgeless graph's edge_corr); what was
/// not is None. The means are None, too, of a run without samples (there is nothing to average; their
/// sums are zeros).
PyObservations wrap(Observations&& o, const ObserverSpec& spec, int32_t nodes) {
  PyObservations p;
  p.num_chains = o.num_chains;
  p.num_samples = o.num_samples;
  p.sweeps = o.sweeps;
  const auto B = static_cast<py::ssize_t>(o.num_chains);
  const auto groups = static_cast<py::ssize_t>(spec.readout_groups.size());
  const bool sampled = o.num_samples > 0;
  auto asked = [](bool yes, auto&& v, std::vector<py::ssize_t> shape) -> py::object {
    if (!yes) return py::none();
    return to_numpy(std::move(v), std::move(shape));
  };
  p.node_sum = asked(spec.moments, std::move(o.node_sum), {static_cast<py::ssize_t>(o.node_sum.size())});
  p.edge_sum = asked(spec.moments, std::move(o.edge_sum), {static_cast<py::ssize_t>(o.edge_sum.size())});
  p.node_mean = asked(spec.moments && sampled, std::move(o.node_mean), {static_cast<py::ssize_t>(o.node_mean.size())});
  p.edge_corr = asked(spec.moments && sampled, std::move(o.edge_corr), {static_cast<py::ssize_t>(o.edge_corr.size())});
  p.energy = asked(spec.energy, std::move(o.energy), {static_cast<py::ssize_t>(o.num_samples), B});
  p.readout_sum = asked(groups > 0, std::move(o.readout_sum), {B, groups});
  p.readout_mean = asked(groups > 0 && sampled, std::move(o.readout_mean), {B, groups});
  p.snapshots = asked(!spec.snapshot_sweeps.empty(), std::move(o.snapshots),
                      {static_cast<py::ssize_t>(spec.snapshot_sweeps.size()), B, static_cast<py::ssize_t>(nodes)});
  return p;
}

// ------------------------------------------------------------------ pickles

/// A pickle's state tuple of `n` items, or InvalidArgument naming the class (a state of another version).
py::tuple pickle_state(const py::handle& state, size_t n, const char* cls) {
  if (!py::isinstance<py::tuple>(state) || py::len(state) != n) {
    throw InvalidArgument(std::string("unpickling pbit.") + cls + ": expected a state of " + std::to_string(n) +
                          " items (a pickle of another pbit version?)");
  }
  return py::reinterpret_borrow<py::tuple>(state);
}

/// An Observations pickle's state, read as a run writes one: counts in range, arrays of the shapes the
/// counts give, means in [-1, 1], spins of +-1 (a hand-made state of -2 chains and NaN means was taken).
/// `doing` names the step in errors: pickling checks the state too, so that an Observations edited in
/// place into one no run gives is refused when pickled, not when the pickle is loaded.
PyObservations observations_from_state(const py::object& state, const std::string& doing = "unpickling") {
  const py::tuple t = pickle_state(state, 11, "Observations");
  PyObservations o;
  o.num_chains = static_cast<int32_t>(int_arg(t[0], "Observations.num_chains", 1, std::numeric_limits<int32_t>::max()));
  o.num_samples = int_arg(t[1], "Observations.num_samples", 0, int64_t{1} << 62);
  o.sweeps = int_arg(t[2], "Observations.sweeps", 0, int64_t{1} << 62);
  struct Field {
    const char* name;
    py::object PyObservations::*member;
    int dims;
    int chain_axis;     // the axis of length num_chains, or -1
    bool samples_rows;  // rows are samples (energy)
    bool mean;          // values in [-1, 1]
    bool spins;         // int8 of +-1 (snapshots)
  };
  const Field fields[] = {{"node_sum", &PyObservations::node_sum, 1, -1, false, false, false},
                          {"edge_sum", &PyObservations::edge_sum, 1, -1, false, false, false},
                          {"node_mean", &PyObservations::node_mean, 1, -1, false, true, false},
                          {"edge_corr", &PyObservations::edge_corr, 1, -1, false, true, false},
                          {"energy", &PyObservations::energy, 2, 1, true, false, false},
                          {"readout_sum", &PyObservations::readout_sum, 2, 0, false, false, false},
                          {"readout_mean", &PyObservations::readout_mean, 2, 0, false, true, false},
                          {"snapshots", &PyObservations::snapshots, 3, 1, false, false, true}};
  for (size_t k = 0; k < std::size(fields); ++k) {
    const Field& f = fields[k];
    const py::handle h = t[3 + k];
    o.*f.member = py::reinterpret_borrow<py::object>(h);
    if (h.is_none()) continue;
    const std::string what = doing + " pbit.Observations: " + f.name;
    if (!py::isinstance<py::array>(h)) throw InvalidArgument(what + " must be a numpy array or None");
    const auto a = py::reinterpret_borrow<py::array>(h);
    if (a.ndim() != f.dims || (f.chain_axis >= 0 && a.shape(f.chain_axis) != o.num_chains) || (f.samples_rows && a.shape(0) != o.num_samples)) {
      throw InvalidArgument(what + ": not of the shape num_chains (" + std::to_string(o.num_chains) + ") and num_samples (" +
                            std::to_string(o.num_samples) + ") give");
    }
    if (f.spins) {
      if (a.dtype().kind() != 'i' || a.dtype().itemsize() != 1) throw InvalidArgument(what + " must be int8 spins");
      const auto sp = py::array_t<int8_t, py::array::c_style | py::array::forcecast>::ensure(a);
      for (py::ssize_t q = 0; q < sp.size(); ++q)
        if (sp.data()[q] != 1 && sp.data()[q] != -1) throw InvalidArgument(what + " holds a spin that is not +1 or -1");
      continue;
    }
    if (std::string("biuf").find(a.dtype().kind()) == std::string::npos) throw InvalidArgument(what + " must hold numbers");
    const auto v = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
    for (py::ssize_t q = 0; v && q < v.size(); ++q) {
      const double x = v.data()[q];
      if (!std::isfinite(x) || (f.mean && std::abs(x) > 1)) {
        throw InvalidArgument(what + " holds " + std::to_string(x) + (f.mean ? ", not a mean in [-1, 1]" : ", not a finite number"));
      }
    }
  }
  return o;
}

Graph graph_from_arrays(const py::handle& n_arg, const py::handle& i, const py::handle& j, const py::handle& w, const py::handle& biases);

// ------------------------------------------------------------------ exceptions

PyObject* g_error = nullptr;
/// errno -> the pbit.IoError subclass that is also Python's OSError subclass for it
/// (pbit.IoError.FileNotFoundError for ENOENT, ...); errnos Python leaves as plain OSError are absent.
PyObject* g_io_error_by_errno = nullptr;

/// For every errno Python maps to a subclass of OSError (FileNotFoundError, PermissionError,
/// IsADirectoryError, ...), a subclass of both `io_error` and it, reachable (and so picklable) as
/// pbit.IoError.<its name>: `except FileNotFoundError` catches pbit's missing files.
void make_io_error_subclasses(PyObject* io_error) {
  g_io_error_by_errno = PyDict_New();
  if (!g_io_error_by_errno) throw py::error_already_set();
  const py::object oserror = py::reinterpret_borrow<py::object>(PyExc_OSError);
  const auto codes = py::module_::import("errno").attr("errorcode").cast<py::dict>();
  py::dict made;  // Python's subclass -> ours
  for (const auto item : codes) {
    const py::object probe = oserror(item.first, "");
    const py::handle mapped(reinterpret_cast<PyObject*>(Py_TYPE(probe.ptr())));
    if (mapped.ptr() == PyExc_OSError) continue;
    if (!made.contains(mapped)) {
      const std::string name = py::str(mapped.attr("__name__"));
      const std::string doc = "A pbit.IoError that is also a " + name + ".";
      const py::tuple bases = py::make_tuple(py::handle(io_error), mapped);
      PyObject* t = PyErr_NewExceptionWithDoc(("pbit." + name).c_str(), doc.c_str(), bases.ptr(), nullptr);
      if (!t) throw py::error_already_set();
      const py::object sub = py::reinterpret_steal<py::object>(t);
      sub.attr("__qualname__") = "IoError." + name;
      py::handle(io_error).attr(name.c_str()) = sub;
      made[mapped] = sub;
    }
    if (PyDict_SetItem(g_io_error_by_errno, item.first.ptr(), made[mapped].ptr()) != 0) throw py::error_already_set();
  }
}

PyObject* new_exception(py::module_& m, const char* name, PyObject* base, PyObject* also, const char* doc) {
  const std::string qualified = std::string("pbit.") + name;
  // (Not a ?: of two make_tuple calls: pybind11 3.1 gives them different types.)
  py::tuple bases;
  if (also) bases = py::make_tuple(py::handle(base), py::handle(also));
  else bases = py::make_tuple(py::handle(base));
  PyObject* t = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!t) throw py::error_already_set();
  m.add_object(name, py::handle(t));
  return t;
}

// ------------------------------------------------------------------ graphs and reprs

Graph graph_from_arrays(const py::handle& n_arg, const py::handle& i, const py::handle& j, const py::handle& w, const py::handle& biases) {
  const auto n = static_cast<int32_t>(int_arg(n_arg, "num_nodes", 0, std::numeric_limits<int32_t>::max()));
  const std::vector<int32_t> a = indices_from(i, "i"), b = indices_from(j, "j");
  const std::vector<float> x = from_numpy<float>(w, "weights");
  if (a.size() != b.size() || a.size() != x.size()) {
    throw InvalidArgument("from_edges: i, j and weights must have the same length (" + std::to_string(a.size()) + ", " +
                          std::to_string(b.size()) + ", " + std::to_string(x.size()) + ")");
  }
  std::vector<Edge> e(a.size());
  for (size_t k = 0; k < e.size(); ++k) e[k] = {a[k], b[k], x[k]};
  std::vector<float> h = biases.is_none() ? std::vector<float>{} : from_numpy<float>(biases, "biases");
  ReleaseGil release;
  return Graph::from_edges(n, e, std::move(h));
}

/// (num_nodes, i, j, J, h): what Graph.from_edges rebuilds it from, edge order and zero couplings included.
py::tuple graph_state(const Graph& g) {
  return py::make_tuple(g.num_nodes(), to_numpy(std::vector<int32_t>(g.edge_i())), to_numpy(std::vector<int32_t>(g.edge_j())),
                        to_numpy(g.edge_weights()), to_numpy(std::vector<float>(g.biases())));
}

bool same_graph(const Graph& a, const Graph& b) {
  return a.num_nodes() == b.num_nodes() && a.edge_i() == b.edge_i() && a.edge_j() == b.edge_j() && a.edge_weights() == b.edge_weights() &&
         std::equal(a.biases().begin(), a.biases().end(), b.biases().begin(), b.biases().end());
}

/// "1 chain", "3 chains": a count and its noun, for the reprs.
std::string count_of(int64_t n, const std::string& what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

/// The shortest text that reads back as the same float32 (0.1f is "0.1", not 0.10000000149011612).
std::string float_text(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string t(buf, r.ptr);
  if (t.find_first_of(".en") == std::string::npos) t += ".0";  // 1 -> 1.0, as Python writes a float
  return t;
}

/// pbit.BetaSchedule.linear(0.1, 1.0, 100) and the like: the call that builds it, where one does.
std::string beta_repr(const BetaSchedule& b) {
  std::string s = "pbit.BetaSchedule.";
  const auto& v = b.per_sweep_values();
  const auto& p = b.pieces();
  if (v.size() == 1) {
    s += "constant(" + float_text(v[0]) + ")";
  } else if (!v.empty()) {
    s += "per_sweep([";
    for (size_t k = 0; k < v.size() && k < 6; ++k) s += (k ? ", " : "") + float_text(v[k]);
    s += v.size() > 6 ? ", ...] (" + std::to_string(v.size()) + " values))" : "])";
  } else if (p.size() == 1 && p[0].from != p[0].to) {
    s += "linear(" + float_text(p[0].from) + ", " + float_text(p[0].to) + ", " + std::to_string(p[0].length) + ")";
  } else {
    s += "piecewise([";
    for (size_t k = 0; k < p.size() && k < 6; ++k) {
      s += (k ? ", " : "") + ("(" + float_text(p[k].from) + ", " + std::to_string(p[k].length) + ")");
    }
    s += p.size() > 6 ? ", ...] (" + std::to_string(p.size()) + " segments))" : "])";
  }
  if (b.offset() > 0) s += ".after(" + std::to_string(b.offset()) + ")";
  return s;
}

}  // namespace

// ------------------------------------------------------------------ the module

PYBIND11_MODULE(_pbit, m) {
  detail::set_interrupt_check(&check_cli_interrupt);  // Ctrl-C in pbit.cli (does nothing outside a command)
  // pybind11 (2.10) looks numpy's C API up on first use, importing numpy inside a static's guard;
  // the import lets the GIL go, and a thread that took it then waits on that guard forever while the
  // importing thread waits for the GIL. Threads whose first call converted an array hung so. Here,
  // at import, one thread does it.
  py::detail::npy_api::get();
  m.doc() = "pbit: GPU p-bit / Ising / Boltzmann sampling (C++ core). Import it as `import pbit`.";

  // Exceptions: pbit.Error (a RuntimeError) and one subclass per C++ class, with the C++ message.
  // Bad arguments, configs and graphs are also ValueErrors; I/O errors OSErrors; memory MemoryError.
  g_error = new_exception(m, "Error", PyExc_RuntimeError, nullptr, "Base of every error pbit raises.");
  static PyObject* invalid_argument = new_exception(m, "InvalidArgument", g_error, PyExc_ValueError, "A bad argument to an API call.");
  static PyObject* config_mismatch = new_exception(m, "ConfigMismatch", invalid_argument, nullptr,
                                                   "A checkpoint of a run with another training config (an InvalidArgument).");
  static PyObject* invalid_graph = new_exception(m, "InvalidGraph", g_error, PyExc_ValueError, "A graph that is not a valid Ising graph.");
  static PyObject* invalid_coloring = new_exception(m, "InvalidColoring", g_error, PyExc_ValueError, "A coloring that is not proper.");
  static PyObject* invalid_config = new_exception(m, "InvalidConfig", g_error, PyExc_ValueError, "A config value that is wrong; names the key.");
  static PyObject* not_compiled = new_exception(m, "NotCompiled", g_error, nullptr, "A backend this build does not contain.");
  static PyObject* cuda_error = new_exception(m, "CudaError", g_error, nullptr, "A CUDA runtime error, including 'no device'.");
  static PyObject* out_of_memory = new_exception(m, "OutOfMemory", g_error, PyExc_MemoryError, "An allocation that did not fit.");
  static PyObject* io_error = new_exception(m, "IoError", g_error, PyExc_OSError, "A file that cannot be read or written.");
  // OSError's str() becomes "[Errno N] strerror: 'filename'" once those are set; pbit's message
  // already says it all, in pbit's words.
  py::handle(io_error).attr("__str__") = py::module_::import("builtins").attr("BaseException").attr("__str__");
  make_io_error_subclasses(io_error);
  py::register_exception_translator([](std::exception_ptr p) {
    // With the C API only: nothing here may throw. A message naming a file whose name is not UTF-8
    // shows it as \xNN escapes; an IoError's .filename is the name itself (os.fsdecode's str).
    const auto decoded = [](const char* what) {  // a new reference, or null with MemoryError set
      return PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "backslashreplace");
    };
    const auto set = [&decoded](PyObject* type, const char* what) {
      PyObject* m = decoded(what);
      if (!m) return;  // MemoryError is set
      PyErr_SetObject(type, m);
      Py_DECREF(m);
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ConfigMismatch& e) {  // (before its base)
      set(config_mismatch, e.what());
    } catch (const InvalidArgument& e) {
      set(invalid_argument, e.what());
    } catch (const InvalidGraph& e) {
      set(invalid_graph, e.what());
    } catch (const InvalidColoring& e) {
      set(invalid_coloring, e.what());
    } catch (const InvalidConfig& e) {
      set(invalid_config, e.what());
    } catch (const NotCompiled& e) {
      set(not_compiled, e.what());
    } catch (const CudaError& e) {
      set(cuda_error, e.what());
    } catch (const OutOfMemory& e) {
      set(out_of_memory, e.what());
    } catch (const IoError& e) {
      // As OSError: .errno, .strerror and .filename where pbit knows them (else None); str() stays
      // pbit's message (IoError's __str__ is BaseException's, see below).
      // The subclass Python's OSError(errno, ...) would be, if any (a borrowed reference).
      PyObject* type = io_error;
      if (e.error_number() != 0) {
        PyObject* no = PyLong_FromLong(e.error_number());
        PyObject* sub = no ? PyDict_GetItemWithError(g_io_error_by_errno, no) : nullptr;
        Py_XDECREF(no);
        if (sub) type = sub;
        PyErr_Clear();  // (a failed lookup leaves the plain IoError)
      }
      PyObject* m = decoded(e.what());
      PyObject* exc = m ? PyObject_CallFunctionObjArgs(type, m, nullptr) : nullptr;
      Py_XDECREF(m);
      if (!exc) return;  // the call set its own error (MemoryError)
      if (e.error_number() != 0) {
        PyObject* no = PyLong_FromLong(e.error_number());
        PyObject* text = PyUnicode_DecodeLocale(std::strerror(e.error_number()), "surrogateescape");
        if (no) PyObject_SetAttrString(exc, "errno", no);
        if (text) PyObject_SetAttrString(exc, "strerror", text);
        Py_XDECREF(no);
        Py_XDECREF(text);
      }
      if (!e.path().empty()) {
        PyObject* name = PyUnicode_DecodeFSDefaultAndSize(e.path().data(), static_cast<Py_ssize_t>(e.path().size()));
        if (name) PyObject_SetAttrString(exc, "filename", name);
        Py_XDECREF(name);
      }
      PyErr_Clear();  // a failed attribute is left None rather than replacing the IoError
      PyErr_SetObject(type, exc);
      Py_DECREF(exc);
    } catch (const Error& e) {
      set(g_error, e.what());
    }
  });

  m.attr("__version__") = PBIT_PY_VERSION;
  m.attr("git_sha") = build_git_sha();

  // ---------------------------------------------------------------- the commands
  m.def(
      "_run_command",
      [](const std::vector<std::string>& args, bool raise_bad_options) {
        std::vector<std::string> argv_s{"pbit"};
        for (const std::string& a : args) {  // argv strings end at a NUL: a path would be cut short there
          if (a.find('\0') != std::string::npos) throw InvalidArgument("pbit.cli: argument '" + a.substr(0, a.find('\0')) + "...' has an embedded null byte");
        }
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (std::string& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        // Ctrl-C ends a long command at its next status-line update (KeyboardInterrupt), as it ends the
        // process from a shell; checkpoints already written stay (the check: see module init).
        struct Active {
          Active() { ++g_cli_commands; }
          ~Active() { --g_cli_commands; }
        } active;
        ReleaseGil release;
        return cli::run(static_cast<int>(argv_s.size()), argv.data(), /*rethrow=*/true, raise_bad_options);
      },
      py::arg("args"), py::arg("raise_bad_options") = true,
      "Runs a pbit command in this process (pbit.cli wraps it): pbit errors raise, and bad options too unless "
      "raise_bad_options is False (then they print and return 2).");

  // ---------------------------------------------------------------- backends
  m.def("backends", [] {
    std::vector<std::string> out;
    for (Backend b : available_backends()) out.push_back(to_string(b));
    return out;
  }, "Names of the backends available here, reference first (reference, cpu, packed, and cuda with a GPU).");
  m.def("best_backend", [] { return to_string(best_available_backend()); }, "cuda if a GPU is usable, else cpu.");
  m.def("backend_unavailable_reason", [](const std::string& name) { return backend_unavailable_reason(backend_from(name)); },
        py::arg("backend"), "Why a backend is not available here ('' when it is).");

  // ---------------------------------------------------------------- graphs
  py::class_<Graph>(m, "Graph", R"doc(An undirected weighted Ising graph: N nodes, couplings J_ij, biases h_i.

Build one with Graph.from_edges(num_nodes, i, j, weights, biases) or a generator (pbit.topology,
pbit.random_regular, pbit.square_lattice). Undirected edges are numbered in (i, j) order, i < j;
edge statistics of the sampler use that order.)doc")
      .def_static(
          "from_edges",
          [](const py::object& n_arg, const py::object& i, const py::object& j, const py::object& w, const py::object& biases) {
            return graph_from_arrays(n_arg, i, j, w, biases);
          },
          py::arg("num_nodes"), py::arg("i"), py::arg("j"), py::arg("weights"), py::arg("biases") = py::none(),
          "Builds a graph from edge arrays (i, j, J); biases h (N values) or None for zeros. The edges are renumbered in "
          "(i, j) order, i < j, not kept in the order given: edge_weights, Sampler.set_weights and edge statistics use the "
          "new order, which g.edges gives. Raises InvalidGraph for self loops, out-of-range nodes, conflicting duplicates "
          "and non-finite values.")
      .def_static(
          "read",
          [](const py::object& path) {
            const std::string p = path_arg(path);
            ReleaseGil release;
            return read_graph_file(p).graph;
          },
          py::arg("path"),
          "Reads a graph file: .json as graph JSON, anything else as an edge list (docs/CLI.md).")
      .def(
          "write",
          [](const Graph& g, const py::object& path, const std::optional<Coloring>& coloring) {
            const std::string p = path_arg(path);
            const Graph snapshot = g;  // see graph_snapshot_note
            std::vector<int32_t> colors;
            if (coloring) colors = coloring->colors();
            ReleaseGil release;
            write_graph_file(p, snapshot, coloring ? &colors : nullptr);  // (checked against the graph there)
          },
          py::arg("path"), py::arg("coloring") = py::none(),
          "Writes the graph: .json as graph JSON, anything else as an edge list (atomically). `coloring` (a Coloring of "
          "this graph) goes into graph JSON, where `pbit sample --graph` and read_graph_file find it; an edge list holds none "
          "(InvalidArgument).")
      .def_property_readonly("num_nodes", &Graph::num_nodes)
      .def_property_readonly("num_edges", &Graph::num_edges)
      .def_property_readonly("max_degree", &Graph::max_degree)
      .def(
          "degree",
          [](const Graph& g, const py::object& node) {
            const int64_t i = int_arg(node, "degree: node", 0, std::max<int64_t>(g.num_nodes() - 1, 0));
            if (i >= g.num_nodes()) throw InvalidArgument("degree: the graph has no nodes");
            return g.degree(static_cast<int32_t>(i));
          },
          py::arg("node"))
      .def_property_readonly(
          "edges",
          [](const Graph& g) {
            std::vector<int32_t> i = g.edge_i(), j = g.edge_j();
            return py::make_tuple(to_numpy(std::move(i)), to_numpy(std::move(j)), to_numpy(g.edge_weights()));
          },
          "(i, j, J): the undirected edges in edge order, i < j, as numpy arrays.")
      .def_property(
          "edge_weights", [](const Graph& g) { return to_numpy(g.edge_weights()); },
          [](Graph& g, const py::object& w) { g.set_edge_weights(from_numpy<float>(w, "edge_weights")); },
          "Couplings in edge order (numpy float32); assign to replace them (same structure).")
      .def_property(
          "biases", [](const Graph& g) { return to_numpy(std::vector<float>(g.biases())); },
          [](Graph& g, const py::object& h) { g.set_biases(from_numpy<float>(h, "biases")); }, "Biases h (numpy float32); assign to replace them.")
      .def(
          "coupling",
          [](const Graph& g, const py::object& i, const py::object& j) {
            const int64_t hi = std::max<int64_t>(g.num_nodes() - 1, 0);
            const auto a = static_cast<int32_t>(int_arg(i, "coupling: node i", 0, hi)), b = static_cast<int32_t>(int_arg(j, "coupling: node j", 0, hi));
            return g.coupling(a, b);
          },
          py::arg("i"), py::arg("j"), "J_ij, 0 where i and j are not adjacent (both must be nodes of the graph).")
      .def(
          "energy",
          [](const Graph& g, const py::object& s) -> py::object {
            const py::array a = py::array::ensure(s);
            const std::vector<int8_t> v = spins_from(s, "energy", 2);
            const size_t N = static_cast<size_t>(g.num_nodes());
            if (a && a.ndim() == 2 && static_cast<size_t>(a.shape(1)) != N) {  // B x N, not N x B
              throw InvalidArgument("energy: expected N = " + std::to_string(N) + " spins per row (B x N), got rows of " +
                                    std::to_string(a.shape(1)));
            }
            const bool one = a && a.ndim() <= 1;  // one state: N spins (a 0-d number for a one-node graph)
            if (N > 0 && a && a.ndim() == 2 && a.shape(0) == 0) return to_numpy(std::vector<double>{});  // no states: no energies
            if (N == 0 && v.empty()) {  // a graph of no nodes: every state is the empty one, of energy 0 (empty sums)
              if (one) return py::float_(0.0);
              detail::check_memory(8.0 * static_cast<double>(a.shape(0)), "energy: " + std::to_string(a.shape(0)) + " energies");
              return to_numpy(std::vector<double>(static_cast<size_t>(a.shape(0)), 0.0));
            }
            if (N == 0 || v.empty() || v.size() % N || (one && v.size() != N)) {
              throw InvalidArgument("energy: expected N = " + std::to_string(N) + " spins (one state) or B x N (B states), got " +
                                    std::to_string(v.size()));
            }
            std::vector<double> e(v.size() / N);
            for (size_t b = 0; b < e.size(); ++b) e[b] = g.energy(std::span<const int8_t>(v.data() + b * N, N));
            if (one) return py::float_(e[0]);
            return to_numpy(std::move(e));
          },
          py::arg("spins"),
          "E(s) = -(sum_{i<j} J_ij s_i s_j + sum_i h_i s_i) of one state (N spins: a float) or of several (B x N: an array).")
      .def("__repr__", [](const Graph& g) {
        return "pbit.Graph(" + count_of(g.num_nodes(), "node") + ", " + count_of(g.num_edges(), "edge") + ")";
      })
      .def(
          "__eq__", [](const Graph& a, const py::object& b) -> py::object {
            if (!py::isinstance<Graph>(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::bool_(same_graph(a, b.cast<const Graph&>()));
          },
          py::is_operator(), "The same nodes, edges, couplings and biases.")
      .def(py::pickle([](const Graph& g) -> py::object { return graph_state(g); },
                      [](const py::object& state) {
                        const py::tuple t = pickle_state(state, 5, "Graph");
                        return graph_from_arrays(t[0], t[1], t[2], t[3], t[4]);
                      }));

  py::class_<Coloring>(m, "Coloring", "A proper coloring: nodes of one color share no edge and update together.")
      .def(py::init([](const Graph& g, const py::object& colors) { return Coloring(g, indices_from(colors, "colors")); }),
           py::arg("graph"), py::arg("colors"), "Checks `colors` (one per node) against the graph; raises InvalidColoring.")
      .def_property_readonly("num_colors", &Coloring::num_colors)
      .def_property_readonly("colors", [](const Coloring& c) { return to_numpy(std::vector<int32_t>(c.colors())); })
      .def("__repr__",
           [](const Coloring& c) {
             return "pbit.Coloring(" + count_of(static_cast<int64_t>(c.colors().size()), "node") + ", " + count_of(c.num_colors(), "color") + ")";
           })
      // The colors alone: checked again against the graph of any Sampler it is given to.
      .def(py::pickle([](const Coloring& c) -> py::object { return py::make_tuple(to_numpy(std::vector<int32_t>(c.colors()))); },
                      [](const py::object& state) {
                        std::vector<int32_t> colors = indices_from(pickle_state(state, 1, "Coloring")[0], "Coloring colors");
                        const Graph edgeless = Graph::from_edges(static_cast<int32_t>(colors.size()), std::vector<Edge>{});
                        return Coloring(edgeless, std::move(colors));
                      }));
  m.def(
      "color_graph",
      [](const Graph& g) {
        const Graph snapshot = g;  // see graph_snapshot_note
        ReleaseGil release;
        return color_graph(snapshot);
      },
      py::arg("graph"), "A proper coloring (bipartite when possible, else DSATUR).");

  m.def(
      "read_graph_file",
      [](const py::object& path) {
        const std::string p = path_arg(path);
        GraphFile f = [&] {
          ReleaseGil release;
          return read_graph_file(p);
        }();
        py::object coloring = py::none();
        if (f.coloring) coloring = py::cast(Coloring(f.graph, std::move(*f.coloring)));
        return py::make_tuple(std::move(f.graph), coloring);
      },
      py::arg("path"),
      "(graph, coloring): a graph file and the coloring it holds (graph JSON's \"coloring\"), or None where it holds "
      "none. `pbit sample --graph FILE` updates by that coloring, and a Sampler given it runs the CLI's chains bit for bit; "
      "Graph.read reads the graph alone.");

  py::class_<Topology>(m, "Topology", "A generated hardware graph: its graph, a proper coloring and node coordinates.")
      .def_readonly("name", &Topology::name)
      .def_readonly("graph", &Topology::graph)
      .def_readonly("coloring_method", &Topology::coloring_method)
      .def_readonly("coordinate_names", &Topology::coordinate_names)
      .def_property_readonly("colors", [](const Topology& t) { return to_numpy(std::vector<int32_t>(t.colors)); })
      .def("coloring", &Topology::coloring)
      .def("__repr__", [](const Topology& t) { return "pbit.Topology('" + t.name + "')"; })
      .def(py::pickle(
          [](const Topology& t) -> py::object {
            std::vector<int32_t> coords;
            for (const auto& c : t.coordinates) coords.insert(coords.end(), c.begin(), c.end());
            const auto rows = static_cast<py::ssize_t>(t.coordinates.size());
            const auto cols = static_cast<py::ssize_t>(t.coordinates.empty() ? 0 : t.coordinates[0].size());
            return py::make_tuple(t.name, graph_state(t.graph), to_numpy(std::vector<int32_t>(t.colors)), t.coloring_method,
                                  t.coordinate_names, to_numpy(std::move(coords), {rows, cols}), to_numpy(std::vector<int64_t>(t.linear_index)));
          },
          [](const py::object& state) {
            const py::tuple s = pickle_state(state, 7, "Topology");
            Topology t;
            t.name = s[0].cast<std::string>();
            const py::tuple g = pickle_state(s[1], 5, "Topology.graph");
            t.graph = graph_from_arrays(g[0], g[1], g[2], g[3], g[4]);
            t.colors = indices_from(s[2], "Topology colors");
            verify_coloring(t.graph, t.colors);
            t.coloring_method = s[3].cast<std::string>();
            t.coordinate_names = s[4].cast<std::vector<std::string>>();
            const auto coords = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(s[5]);
            const auto n = static_cast<py::ssize_t>(t.graph.num_nodes());
            const auto c = static_cast<py::ssize_t>(t.coordinate_names.size());
            if (!coords || coords.ndim() != 2 || (coords.size() > 0 && (coords.shape(0) != n || coords.shape(1) != c))) {
              throw InvalidArgument("unpickling pbit.Topology: the coordinates are not one row of " + std::to_string(c) + " per node");
            }
            for (py::ssize_t r = 0; r < coords.shape(0) && coords.size() > 0; ++r) {
              t.coordinates.emplace_back(coords.data(r, 0), coords.data(r, 0) + c);
            }
            t.linear_index = from_numpy<int64_t>(s[6], "Topology linear_index");
            if (!t.linear_index.empty() && static_cast<py::ssize_t>(t.linear_index.size()) != n) {
              throw InvalidArgument("unpickling pbit.Topology: linear_index is not one value per node");
            }
            return t;
          }));
  m.def("topology", &make_topology, py::arg("spec"), py::call_guard<ReleaseGil>(),
        "A generated topology: 'pegasus:M', 'zephyr:M[:T]', 'chimera:M[:N[:T]]', 'grid:L:G12' ... (docs/TOPOLOGIES.md), couplings 1.");
  m.def(
      "square_lattice",
      [](const py::object& l, bool periodic, const py::object& j) {
        const auto L = static_cast<int32_t>(int_arg(l, "L", 1, std::numeric_limits<int32_t>::max()));
        const float J = float_arg(j, "J");
        ReleaseGil release;
        return square_lattice(L, periodic, J);
      },
      py::arg("L"), py::arg("periodic") = true, py::arg("J") = 1.0f,
        "L x L square lattice, node = row * L + col.");
  m.def(
      "random_regular",
      [](const py::object& n, const py::object& d, const py::object& seed) {
        const auto nn = static_cast<int32_t>(int_arg(n, "n", 1, std::numeric_limits<int32_t>::max()));
        const auto dd = static_cast<int32_t>(int_arg(d, "d", 0, std::numeric_limits<int32_t>::max()));
        const uint64_t s = seed_arg(seed);
        ReleaseGil release;
        return random_regular(nn, dd, s);
      },
      py::arg("n"), py::arg("d"), py::arg("seed"), "A random simple d-regular graph, seeded.");
  m.def(
      "with_random_weights",
      [](const Graph& g, const py::object& seed, const py::object& sj, const py::object& sh) {
        const uint64_t s = seed_arg(seed);
        const float sigma_j = float_arg(sj, "sigma_j"), sigma_h = float_arg(sh, "sigma_h");
        const Graph snapshot = g;  // see graph_snapshot_note
        ReleaseGil release;
        return with_random_weights(snapshot, s, sigma_j, sigma_h);
      },
      py::arg("graph"), py::arg("seed"), py::arg("sigma_j"), py::arg("sigma_h") = 0.0f,
      "The same structure with couplings ~ N(0, sigma_j^2) and biases ~ N(0, sigma_h^2), seeded.");

  // ---------------------------------------------------------------- roles
  py::class_<RoleAssignment>(m, "Roles", R"doc(Named node roles (visible, hidden, label, data, latent, ...) partitioning a graph's nodes.

roles["visible"] is that role's nodes in placement order (visible node k = pixel k), roles.role_of
the role index of every node.)doc")
      .def_readonly("names", &RoleAssignment::names)
      // A mapping of names, as a dict of str keys: any other key is a KeyError and not `in` it (not
      // pybind11's overload TypeError).
      .def("__getitem__",
           [](const RoleAssignment& r, const py::object& key) {
             if (!py::isinstance<py::str>(key)) throw py::key_error(py::repr(key).cast<std::string>());
             const std::string name = key.cast<std::string>();
             if (std::find(r.names.begin(), r.names.end(), name) == r.names.end()) throw py::key_error(py::repr(key).cast<std::string>());
             return to_numpy(std::vector<int32_t>(r.of(name)));
           })
      .def("__iter__", [](const RoleAssignment& r) { return py::iter(py::cast(r.names)); }, "The role names, in placement order.")
      .def("__contains__", [](const RoleAssignment& r, const py::object& key) {
        return py::isinstance<py::str>(key) && std::find(r.names.begin(), r.names.end(), key.cast<std::string>()) != r.names.end();
      })
      .def("__len__", [](const RoleAssignment& r) { return r.names.size(); })
      .def_property_readonly("role_of", [](const RoleAssignment& r) { return to_numpy(std::vector<int32_t>(r.role_of)); })
      .def("write", [](const RoleAssignment& r, const py::object& path) { write_roles_file(path_arg(path), r); }, py::arg("path"),
           "Writes the roles file (JSON, atomically; docs/CLI.md).")
      .def_static(
          "read",
          [](const py::object& path, const py::object& n) {
            return read_roles_file(path_arg(path), static_cast<int32_t>(int_arg(n, "num_nodes", 0, std::numeric_limits<int32_t>::max())));
          },
          py::arg("path"),
          py::arg("num_nodes"), "Reads a roles file, checked against num_nodes.")
      .def(py::pickle([](const RoleAssignment& r) -> py::object { return py::make_tuple(roles_to_json(r).dump()); },
                      [](const py::object& state) {
                        const py::handle item = pickle_state(state, 1, "Roles")[0];
                        if (!py::isinstance<py::str>(item)) throw InvalidArgument("unpickling pbit.Roles: expected the roles' JSON text");
                        const nlohmann::json j = parse_json_text(item.cast<std::string>(), "unpickling pbit.Roles");
                        if (!j.is_object() || !j.contains("num_nodes") || !j["num_nodes"].is_number_unsigned() ||
                            j["num_nodes"].get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
                          throw InvalidArgument("unpickling pbit.Roles: not a roles JSON with its num_nodes");
                        }
                        return roles_from_json(j, j["num_nodes"].get<int32_t>(), "unpickling pbit.Roles");
                      }))
      .def("__repr__", [](const RoleAssignment& r) {
        std::string s = "pbit.Roles(";
        for (size_t k = 0; k < r.names.size(); ++k) s += (k ? ", " : "") + r.names[k] + ": " + std::to_string(r.nodes[k].size());
        return s + ")";
      });
  m.def(
      "place_roles",
      [](const py::object& nodes, const std::string& specs, const py::object& seed_obj, const py::object& colors, bool in_order) {
        const auto num_nodes = static_cast<int32_t>(int_arg(nodes, "num_nodes", 1, std::numeric_limits<int32_t>::max()));
        const uint64_t seed = seed_arg(seed_obj);
        const std::vector<RoleSpec> rs = parse_role_specs(specs);
        std::vector<int32_t> c;
        if (!colors.is_none()) c = indices_from(colors, "colors");
        const std::vector<int32_t>* cp = colors.is_none() ? nullptr : &c;
        return in_order ? place_roles_in_order(num_nodes, rs, cp) : place_roles(num_nodes, rs, seed, cp);
      },
      py::arg("num_nodes"), py::arg("specs"), py::arg("seed") = 1, py::arg("colors") = py::none(), py::arg("in_order") = false,
      "Places roles given as 'visible:784,label:50,hidden:rest' (name:count[:color]) on the nodes: by a seeded random "
      "permutation (index randomization, Niazi et al. 2024) or, with in_order, in index order.");
  m.def(
      "role_distances",
      [](const Graph& g, const RoleAssignment& r) {
        py::list out;
        for (const RoleDistance& d : role_distances(g, r)) {
          py::dict x;
          x["from"] = d.from;
          x["to"] = d.to;
          x["mean_hops"] = d.mean_hops;
          x["max_hops"] = d.max_hops;
          x["unreachable"] = d.unreachable;
          out.append(x);
        }
        return out;
      },
      py::arg("graph"), py::arg("roles"), "Hop distances from each role's nodes to the nearest node of every other role.");

  // ---------------------------------------------------------------- schedules
  py::class_<SamplingSchedule>(m, "SamplingSchedule", "warmup sweeps, then `samples` samples every `steps_per_sample` sweeps (thrml's names).")
      .def(py::init(&schedule_arg), py::arg("warmup") = 0, py::arg("samples") = 1, py::arg("steps_per_sample") = 1)
      // Assigning a field checks the whole schedule as the constructor does (a negative warmup, or a
      // run past the sweep limit, is refused and leaves the schedule as it was).
      .def_property(
          "warmup", [](const SamplingSchedule& s) { return s.warmup; },
          [](SamplingSchedule& s, const py::object& v) { s = schedule_arg(v, py::int_(s.samples), py::int_(s.steps_per_sample)); })
      .def_property(
          "samples", [](const SamplingSchedule& s) { return s.samples; },
          [](SamplingSchedule& s, const py::object& v) { s = schedule_arg(py::int_(s.warmup), v, py::int_(s.steps_per_sample)); })
      .def_property(
          "steps_per_sample", [](const SamplingSchedule& s) { return s.steps_per_sample; },
          [](SamplingSchedule& s, const py::object& v) { s = schedule_arg(py::int_(s.warmup), py::int_(s.samples), v); })
      .def_property_readonly("total_sweeps", &SamplingSchedule::total_sweeps)
      .def("__repr__", [](const SamplingSchedule& s) {
        return "pbit.SamplingSchedule(warmup=" + std::to_string(s.warmup) + ", samples=" + std::to_string(s.samples) +
               ", steps_per_sample=" + std::to_string(s.steps_per_sample) + ")";
      })
      .def(
          "__eq__", [](const SamplingSchedule& a, const py::object& b) -> py::object {
            if (!py::isinstance<SamplingSchedule>(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            const auto& o = b.cast<const SamplingSchedule&>();
            return py::bool_(a.warmup == o.warmup && a.samples == o.samples && a.steps_per_sample == o.steps_per_sample);
          },
          py::is_operator())
      .def(py::pickle([](const SamplingSchedule& s) -> py::object { return py::make_tuple(s.warmup, s.samples, s.steps_per_sample); },
                      [](const py::object& state) {
                        const py::tuple t = pickle_state(state, 3, "SamplingSchedule");
                        return schedule_arg(t[0], t[1], t[2]);
                      }));
  py::class_<BetaSchedule>(m, "BetaSchedule", "Inverse temperature per sweep; a schedule shorter than the run holds its last value.")
      .def_static(
          "constant", [](const py::object& beta) { return BetaSchedule::constant(float_arg(beta, "beta")); }, py::arg("beta"))
      .def_static(
          "linear",
          [](const py::object& start, const py::object& end, const py::object& sweeps) {
            return BetaSchedule::linear(float_arg(start, "start"), float_arg(end, "end"), int_arg(sweeps, "sweeps", 1, int64_t{1} << 62));
          },
          py::arg("start"), py::arg("end"), py::arg("sweeps"),
                  "Linear from start to end over `sweeps` sweeps (inclusive ends), then end.")
      .def_static(
          "piecewise",
          [](const py::object& segments) {
            // Checked as every other argument: a float sweep count, a ragged pair or a count past int64 named.
            if (segments.is_none() || py::isinstance<py::str>(segments) || !py::isinstance<py::iterable>(segments)) {
              throw InvalidArgument("segments: expected a sequence of (beta, sweeps) pairs");
            }
            std::vector<std::pair<float, int64_t>> out;
            size_t k = 0;
            for (const py::handle seg : segments) {
              const std::string at = "segments[" + std::to_string(k++) + "]";
              if (!py::isinstance<py::sequence>(seg) || py::isinstance<py::str>(seg) || py::len(seg) != 2) {
                throw InvalidArgument(at + ": expected a (beta, sweeps) pair");
              }
              const py::sequence pair = py::reinterpret_borrow<py::sequence>(seg);
              const std::vector<double> beta = from_numpy<double>(pair[0], (at + ".beta").c_str(), 0);
              if (beta.size() != 1) throw InvalidArgument(at + ": beta must be one number");
              check_float_range(beta[0], (at + ".beta").c_str(), -1);  // (1e39 was cast to inf)
              out.emplace_back(static_cast<float>(beta[0]), int_arg(pair[1], (at + ".sweeps").c_str(), 0, int64_t{1} << 40));
            }
            return BetaSchedule::piecewise(out);
          },
          py::arg("segments"), "(beta, sweeps) segments in order.")
      .def_static("per_sweep", [](const py::object& b) { return BetaSchedule::per_sweep(from_numpy<float>(b, "betas")); }, py::arg("betas"))
      .def(
          "expand", [](const BetaSchedule& b, const py::object& n) { return to_numpy(b.expand(int_arg(n, "sweeps", 0, int64_t{1} << 40))); },
          py::arg("sweeps"))
      .def(
          "after", [](const BetaSchedule& b, const py::object& n) { return b.after(int_arg(n, "sweeps", 0, int64_t{1} << 62)); }, py::arg("sweeps"),
          "The schedule from sweep `sweeps` on: b.after(n).expand(k) == b.expand(n + k)[n:] (for running one schedule in pieces).")
      .def_property_readonly("length", &BetaSchedule::length, "Sweeps the schedule spells out (after them its last value holds).")
      .def("__repr__", &beta_repr)
      .def(
          "__eq__", [](const BetaSchedule& a, const py::object& b) -> py::object {
            if (!py::isinstance<BetaSchedule>(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::bool_(a == b.cast<const BetaSchedule&>());
          },
          py::is_operator(), "Built the same way: the same pieces or per-sweep values, and the same after() offset.")
      .def("__hash__",  // (a BetaSchedule cannot change: it hashes, by what == compares)
           [](const BetaSchedule& b) {
             py::list values;
             for (const float v : b.per_sweep_values()) values.append(v);
             return py::hash(py::make_tuple(py::tuple(values), py::tuple(beta_pieces(b)), b.offset()));
           })
      .def(py::pickle(
          [](const BetaSchedule& b) -> py::object {
            return py::make_tuple(to_numpy(std::vector<float>(b.per_sweep_values())), beta_pieces(b), b.offset());
          },
          [](const py::object& state) {
            const py::tuple t = pickle_state(state, 3, "BetaSchedule");
            if (!py::isinstance<py::list>(t[1])) throw InvalidArgument("unpickling pbit.BetaSchedule: expected a list of pieces");
            std::vector<BetaSchedule::Piece> pieces;
            for (const py::handle p : t[1].cast<py::list>()) {
              const py::tuple q = pickle_state(p, 4, "BetaSchedule piece");
              // (int_arg, not cast: a number past int64 raised a RuntimeError that named no argument)
              pieces.push_back({int_arg(q[0], "BetaSchedule piece's start", 0, int64_t{1} << 62),
                                int_arg(q[1], "BetaSchedule piece's sweeps", 0, int64_t{1} << 62), float_arg(q[2], "BetaSchedule piece's from"),
                                float_arg(q[3], "BetaSchedule piece's to")});
            }
            return BetaSchedule::from_parts(from_numpy<float>(t[0], "BetaSchedule values"), std::move(pieces),
                                            int_arg(t[2], "BetaSchedule offset", 0, int64_t{1} << 62));
          }));

  py::class_<PyObservations>(m, "Observations", R"doc(What a run observed, as numpy arrays (None where not asked for).

node_mean (N), edge_corr (E, edge order), node_sum / edge_sum (exact integer sums), energy
(samples x B), readout_mean / readout_sum (B x G), snapshots (S x B x N int8).)doc")
      .def_readonly("num_chains", &PyObservations::num_chains)
      .def_readonly("num_samples", &PyObservations::num_samples)
      .def_readonly("sweeps", &PyObservations::sweeps)
      .def_readonly("node_sum", &PyObservations::node_sum)
      .def_readonly("edge_sum", &PyObservations::edge_sum)
      .def_readonly("node_mean", &PyObservations::node_mean)
      .def_readonly("edge_corr", &PyObservations::edge_corr)
      .def_readonly("energy", &PyObservations::energy)
      .def_readonly("readout_sum", &PyObservations::readout_sum)
      .def_readonly("readout_mean", &PyObservations::readout_mean)
      .def_readonly("snapshots", &PyObservations::snapshots)
      .def("__repr__",
           [](const PyObservations& o) {  // pbit.Observations(64 chains, 100 samples, 150 sweeps: node_mean, edge_corr, energy)
             std::string held;
             const std::pair<const char*, const py::object*> fields[] = {
                 {"node_mean", &o.node_mean}, {"edge_corr", &o.edge_corr}, {"node_sum", &o.node_sum}, {"edge_sum", &o.edge_sum},
                 {"energy", &o.energy}, {"readout_mean", &o.readout_mean}, {"readout_sum", &o.readout_sum}, {"snapshots", &o.snapshots}};
             for (const auto& [name, value] : fields) {
               if (!value->is_none()) held += std::string(held.empty() ? "" : ", ") + name;
             }
             return "pbit.Observations(" + count_of(o.num_chains, "chain") + ", " + count_of(o.num_samples, "sample") + ", " +
                    count_of(o.sweeps, "sweep") + ": " + (held.empty() ? std::string("nothing observed") : held) + ")";
           })
      .def(py::pickle(
          [](const PyObservations& o) -> py::object {
            py::tuple t = py::make_tuple(o.num_chains, o.num_samples, o.sweeps, o.node_sum, o.edge_sum, o.node_mean, o.edge_corr, o.energy,
                                         o.readout_sum, o.readout_mean, o.snapshots);
            observations_from_state(t, "pickling");  // (one edited in place pickled, and its pickle did not load)
            return t;
          },
          [](const py::object& state) { return observations_from_state(state); }));

  // ---------------------------------------------------------------- sampler
  const char* run_doc =
      "Runs schedule.total_sweeps sweeps at `beta` (a float, a BetaSchedule or one value per sweep) with the observers asked for "
      "(moments, energy, readout_groups: lists of nodes, snapshot_sweeps: sweep counts within the run); returns Observations. "
      "Releases the GIL. progress=True prints a status line on sys.stderr, a callable is called as f(done, total) sweeps, "
      "at least every 1% of the run and about every quarter second; with or without progress=, Ctrl-C (KeyboardInterrupt), and an exception from the callable, ends the run "
      "there, the chains keeping the sweeps done (sweep_count counts them). Results do not depend on it.";
  py::class_<Sampler::StateView>(m, "StateArray", R"doc(A sampler's state where its backend keeps it (Sampler.state_dlpack()): a
B x N int8 array exported through DLPack (__dlpack__, __dlpack_device__), on the CPU or a CUDA device.)doc")
      .def(
          "__dlpack__",
          [](const Sampler::StateView& v, const py::args& args, const py::kwargs& kw) {
            if (args.size() > 1) throw py::type_error("__dlpack__() takes at most 1 positional argument (stream), got " + std::to_string(args.size()));
            // The array API's keywords: a device other than the array's, or a copy, cannot be made here.
            for (const auto& item : kw) {
              const std::string k = py::str(item.first);
              if (k != "stream" && k != "max_version" && k != "dl_device" && k != "copy") {
                throw py::type_error("__dlpack__() got an unexpected keyword argument '" + k + "'");
              }
            }
            if (kw.contains("copy") && !kw["copy"].is_none() && !py::isinstance<py::bool_>(kw["copy"]) &&
                !py::isinstance(kw["copy"], py::module_::import("numpy").attr("bool_"))) {
              throw py::type_error("__dlpack__: copy must be True, False or None, got " + std::string(py::repr(kw["copy"])));
            }
            if (kw.contains("dl_device") && !kw["dl_device"].is_none()) {
              std::pair<int, int> want;
              try {
                want = kw["dl_device"].cast<std::pair<int, int>>();
              } catch (const py::cast_error&) {
                throw py::type_error("__dlpack__: dl_device must be a (device_type, device_id) pair of integers, got " +
                                     std::string(py::repr(kw["dl_device"])));
              }
              const int type = v.on_device ? kDLCUDA : kDLCPU, id = v.on_device ? v.device : 0;
              if (want.first != type || want.second != id) {
                throw py::buffer_error("pbit.StateArray lives on device (" + std::to_string(type) + ", " + std::to_string(id) +
                                       "); it cannot be exported to (" + std::to_string(want.first) + ", " + std::to_string(want.second) + ")");
              }
            }
            if (kw.contains("copy") && !kw["copy"].is_none() && py::bool_(kw["copy"])) {
              throw py::buffer_error("pbit.StateArray exports its buffer in place; copy=True is not supported (copy after importing)");
            }
            return dlpack_capsule(v);
          },
          "A DLPack capsule of the array (ready on every stream: the export synchronised the device).")
      .def(
          "__array__",
          [](const py::object& self, const py::object& dtype, const py::object& copy) -> py::object {
            // np.asarray / np.array of a host array: the int8 state (a 0-d object array before); a
            // device array is not numpy's to read.
            const auto& v = self.cast<const Sampler::StateView&>();
            if (v.on_device) {
              throw py::type_error("pbit.StateArray lives on CUDA device " + std::to_string(v.device) +
                                   ": import it with a GPU library's from_dlpack (torch, CuPy, JAX), or read Sampler.state for a host copy");
            }
            const py::module_ np = py::module_::import("numpy");
            py::object a = np.attr("from_dlpack")(self);
            if (!dtype.is_none()) a = a.attr("astype")(dtype);
            else if (!copy.is_none() && py::bool_(copy)) a = a.attr("copy")();
            return a;
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__",
           [](const Sampler::StateView& v) {
             return py::make_tuple(static_cast<int>(v.on_device ? kDLCUDA : kDLCPU), v.on_device ? v.device : 0);
           })
      .def_property_readonly("shape", [](const Sampler::StateView& v) { return py::make_tuple(v.chains, v.nodes); })
      .def_property_readonly("on_device", [](const Sampler::StateView& v) { return v.on_device; })
      .def("__repr__", [](const Sampler::StateView& v) {
        return "pbit.StateArray(" + std::to_string(v.chains) + " x " + std::to_string(v.nodes) + " int8, " +
               (v.on_device ? "cuda:" + std::to_string(v.device) : std::string("cpu")) + ")";
      });

  py::class_<Sampler>(m, "Sampler", R"doc(Multicolor block Gibbs sampling of `chains` independent chains of a graph.

Randomness is counter-based (Philox) and keyed by (seed, chain, node, sweep): the same seed gives the
same chains on every backend ('reference', 'cpu', 'packed', 'cuda', or 'best').)doc")
      .def(py::init([](const Graph& g, const py::object& chains_arg, const std::string& backend, const py::object& seed,
                       const std::optional<Coloring>& coloring, const py::object& threads, const std::string& contract) {
             const auto chains = static_cast<int32_t>(int_arg(chains_arg, "chains", 1, int64_t{1} << 30));
             const SamplerOptions o = options_from(backend, seed_arg(seed), static_cast<int>(int_arg(threads, "threads", 0, 4096)), contract);
             const Graph snapshot = g;  // see graph_snapshot_note
             ReleaseGil release;
             return coloring ? Sampler(snapshot, *coloring, chains, o) : Sampler(snapshot, chains, o);
           }),
           py::arg("graph"), py::arg("chains"), py::arg("backend") = "cpu", py::arg("seed") = 0, py::arg("coloring") = py::none(),
           py::arg("threads") = 0, py::arg("contract") = "exact")
      .def_property_readonly("num_chains", &Sampler::num_chains)
      .def_property_readonly("num_nodes", &Sampler::num_nodes)
      .def_property_readonly(
          "graph",
          [](const Sampler& s) {
            const Busy busy(&s);  // set_weights replaces the graph with the GIL released
            return Graph(s.graph());
          },
          "A copy of the sampler's graph (changing it does not change the sampler: use set_weights).")
      .def(
          "set_weights",
          [](Sampler& s, const py::object& w, const py::object& h) {
            const std::vector<float> wv = from_numpy<float>(w, "edge_weights"), hv = from_numpy<float>(h, "biases");
            const Busy busy(&s);
            ReleaseGil release;
            s.set_weights(wv, hv);
          },
          py::arg("edge_weights"), py::arg("biases"),
          "New couplings (edge order) and biases on the same graph, e.g. after a training step; the chains keep their states.")
      .def_property_readonly("coloring", &Sampler::coloring)
      .def_property_readonly("backend", [](const Sampler& s) { return to_string(s.options().backend); })
      .def_property_readonly("kernel_description",
                             [](const Sampler& s) {
                               const Busy busy(&s);  // a run may pick the kernel anew
                               return s.kernel_description();
                             })
      .def_property(
          "sweep_count",
          [](const Sampler& s) {
            const Busy busy(&s);  // counted up by a run in another thread
            return s.sweep_count();
          },
          [](Sampler& s, const py::object& n) {
            const auto v = static_cast<uint64_t>(int_arg(n, "sweep_count", 0, SamplingSchedule::kMaxSweeps));
            const Busy busy(&s);
            s.set_sweep_count(v);
          },
          "Sweeps done so far (the next sweep's RNG counter); set it to resume.")
      .def_property(
          "state",
          [](const Sampler& s) {
            const Busy busy(&s);
            std::vector<int8_t> st;
            {
              ReleaseGil release;
              st = s.state();
            }
            return to_numpy(std::move(st), {s.num_chains(), s.num_nodes()});
          },
          [](Sampler& s, const py::object& x) {
            expect_rows(x, "state", s.num_chains(), s.num_nodes(), false);
            const std::vector<int8_t> v = spins_from(x, "state", 2);
            const Busy busy(&s);
            s.set_state(v);
          },
          "The B x N chain states (int8, +-1); assign B x N spins for a warm start (clamps are re-imposed).")
      .def(
          "randomize_state",
          [](Sampler& s) {
            const Busy busy(&s);
            s.randomize_state();
          },
          "Fresh uniform +-1 spins, keyed by (seed, chain, node, sweep_count): new ones after sweeps ran, the same at the same sweep count.")
      .def(
          "set_clamp", [](Sampler& s, const py::object& nodes, const py::object& values) {
            std::vector<int32_t> n = indices_from(nodes, "nodes");
            expect_rows(values, "values", s.num_chains(), static_cast<int64_t>(n.size()), true);
            const std::vector<int8_t> v = spins_from(values, "values", 2);
            const Busy busy(&s);
            s.set_clamp(std::move(n), v);
          },
          py::arg("nodes"), py::arg("values"), "Clamps `nodes` to values: K shared by every chain, or B x K.")
      .def("clear_clamp",
           [](Sampler& s) {
             const Busy busy(&s);
             s.clear_clamp();
           })
      .def(
          "set_field", [](Sampler& s, const py::object& nodes, const py::object& values) {
            std::vector<int32_t> n = nodes.is_none() ? std::vector<int32_t>{} : indices_from(nodes, "nodes");
            if (!nodes.is_none() && n.empty()) {  // the C++ call reads no nodes as every node
              throw InvalidArgument("set_field: nodes is empty; give None for a field on every node, or call clear_field() for none");
            }
            expect_rows(values, "values", s.num_chains(), nodes.is_none() ? s.num_nodes() : static_cast<int64_t>(n.size()), true);
            const std::vector<float> v = from_numpy<float>(values, "values", 2);
            const Busy busy(&s);
            s.set_field(std::move(n), v);
          },
          py::arg("nodes"), py::arg("values"), "Per-chain field f on `nodes` (None = all): M shared values, or B x M.")
      .def("clear_field",
           [](Sampler& s) {
             const Busy busy(&s);
             s.clear_field();
           })
      .def(
          "set_chain_betas",
          [](Sampler& s, const py::object& f) {
            const std::vector<float> v = from_numpy<float>(f, "factors");
            const Busy busy(&s);
            s.set_chain_betas(v);
          },
          py::arg("factors"),
          "Per-chain beta factors (B values; empty = none): chain b samples at beta x factors[b].")
      .def(
          "run",
          // The schedule by value: the Python object may be changed (by the progress callback, or
          // another thread) while the run has the GIL released.
          [](Sampler& s, SamplingSchedule schedule, const py::object& beta, bool moments, bool energy, const py::object& groups,
             const py::object& snapshots, const py::object& progress) {
            const BetaSchedule b = beta_from(beta);
            const ObserverSpec spec = observer_from(moments, energy, groups, snapshots);
            Observations o;
            {
              const Busy busy(&s);
              ProgressScope scope(s, progress_from(progress, "Sampler.run"));
              ReleaseGil release;
              o = s.run(schedule, b, spec);
            }
            return wrap(std::move(o), spec, s.num_nodes());
          },
          py::arg("schedule") = SamplingSchedule{}, py::arg("beta") = py::none(), py::arg("moments") = false, py::arg("energy") = false,
          py::arg("readout_groups") = py::none(), py::arg("snapshot_sweeps") = py::none(), py::arg("progress") = py::none(), run_doc)
      .def(
          "sweep",
          [](Sampler& s, const py::object& n_arg, const py::object& beta, const py::object& progress) {
            const int64_t n = int_arg(n_arg, "sweeps", 0, SamplingSchedule::kMaxSweeps);
            const BetaSchedule b = beta_from(beta);
            const Busy busy(&s);
            ProgressScope scope(s, progress_from(progress, "Sampler.sweep"));
            ReleaseGil release;
            s.sweep(n, b);
          },
          py::arg("sweeps"), py::arg("beta") = py::none(), py::arg("progress") = py::none(),
          "Runs `sweeps` sweeps without observing. Releases the GIL; progress as in run().")
      .def(
          "state_dlpack",
          [](const Sampler& s) {
            const Busy busy(&s);
            ReleaseGil release;
            return s.state_view();
          },
          "The B x N state (int8 +-1) where the backend keeps it, as a DLPack producer (StateArray): on the cuda backend a "
          "device copy made on the GPU, for torch.from_dlpack / cupy.from_dlpack / jax.dlpack.from_dlpack without a host "
          "round trip; on the others host memory, for np.from_dlpack. A snapshot: later sweeps do not change it.")
      .def(
          "chain_energies",
          [](const Sampler& s) {
            const Busy busy(&s);
            std::vector<double> e;
            {
              ReleaseGil release;
              e = s.chain_energies();
            }
            return to_numpy(std::move(e));
          },
          "Energy of every chain including its per-chain field (B doubles, the same on every backend).")
      .def("__repr__", [](const Sampler& s) {
        const Busy busy(&s);  // the kernel description, as its getter
        return "pbit.Sampler(" + count_of(s.num_chains(), "chain") + " of " + count_of(s.num_nodes(), "node") + ", " +
               s.kernel_description() + ")";
      });

  // ---------------------------------------------------------------- parallel tempering
  py::class_<TemperedSampler>(m, "TemperedSampler", R"doc(Parallel tempering: each of `chains` chains has replicas at the inverse
temperatures `betas` (betas[0] the target), swept in one launch and swapped between neighbours with
the Metropolis rule every `sweeps_per_round` sweeps (scheme 'deo' or 'seo'); observers read the
target replicas. adapt_rounds > 0 tunes the interior betas toward equal swap acceptance, then freezes them.)doc")
      .def(py::init([](const Graph& g, const py::object& chains_arg, const py::object& betas, const py::object& sweeps_per_round,
                       const std::string& scheme, const py::object& adapt_rounds, const std::string& backend, const py::object& seed_obj, const py::object& threads_arg,
                       const std::optional<Coloring>& coloring, const std::string& contract) {
             const auto chains = static_cast<int32_t>(int_arg(chains_arg, "chains", 1, int64_t{1} << 30));
             const uint64_t seed = seed_arg(seed_obj);
             const int threads = static_cast<int>(int_arg(threads_arg, "threads", 0, 4096));
             TemperingOptions t;
             t.betas = from_numpy<float>(betas, "betas");
             t.sweeps_per_round = int_arg(sweeps_per_round, "sweeps_per_round", 1, std::numeric_limits<uint32_t>::max());
             t.scheme = scheme;
             t.adapt_rounds = int_arg(adapt_rounds, "adapt_rounds", 0, int64_t{1} << 40);
             const SamplerOptions o = options_from(backend, seed, threads, contract);
             const Graph snapshot = g;  // see graph_snapshot_note
             ReleaseGil release;
             return TemperedSampler(snapshot, coloring ? *coloring : color_graph(snapshot), chains, t, o);
           }),
           py::arg("graph"), py::arg("chains"), py::arg("betas"), py::arg("sweeps_per_round") = 1, py::arg("scheme") = "deo",
           py::arg("adapt_rounds") = 0, py::arg("backend") = "cpu", py::arg("seed") = 0, py::arg("threads") = 0,
           py::arg("coloring") = py::none(), py::arg("contract") = "exact")
      .def_static(
          "geometric",
          [](const py::object& target, const py::object& hottest, const py::object& replicas) {
            return TemperingOptions::geometric(float_arg(target, "target"), float_arg(hottest, "hottest"),
                                               static_cast<int32_t>(int_arg(replicas, "replicas", 2, 65536)));
          },
          py::arg("target"), py::arg("hottest"), py::arg("replicas"),
                  "A geometric ladder from target to hottest.")
      .def_property_readonly("num_chains", &TemperedSampler::num_chains)
      .def_property_readonly("num_replicas", &TemperedSampler::num_replicas)
      .def_property_readonly("betas",
                             [](const TemperedSampler& t) {
                               const Busy busy(&t);  // an adaptive ladder moves during a run
                               return to_numpy(std::vector<float>(t.betas()));
                             })
      .def_property(
          "state",
          [](const TemperedSampler& t) {
            const Busy busy(&t);
            std::vector<int8_t> s;
            {
              ReleaseGil release;  // on a GPU a download
              s = t.state();
            }
            const auto B = static_cast<py::ssize_t>(t.num_chains());
            const py::ssize_t N = static_cast<py::ssize_t>(s.size()) / B;
            return to_numpy(std::move(s), {B, N});
          },
          [](TemperedSampler& t, const py::object& x) {
            expect_rows(x, "state", t.num_chains(), t.graph().num_nodes(), false);
            const std::vector<int8_t> v = spins_from(x, "state", 2);
            const Busy busy(&t);
            t.set_state(v);
          },
          "The target replicas' B x N states; assign B x N spins to start every replica of each chain there.")
      .def_property_readonly(
          "replica_states",
          [](const TemperedSampler& t) {
            const Busy busy(&t);
            std::vector<int8_t> s;
            {
              ReleaseGil release;
              s = t.replica_states();
            }
            const auto R = static_cast<py::ssize_t>(t.num_replicas()), B = static_cast<py::ssize_t>(t.num_chains());
            const py::ssize_t N = static_cast<py::ssize_t>(s.size()) / (R * B);
            return to_numpy(std::move(s), {R, B, N});
          },
          "Every replica's state, R x B x N (replica r at betas[r]).")
      .def(
          "set_clamp", [](TemperedSampler& t, const py::object& nodes, const py::object& values) {
            std::vector<int32_t> n = indices_from(nodes, "nodes");
            expect_rows(values, "values", t.num_chains(), static_cast<int64_t>(n.size()), true);
            const std::vector<int8_t> v = spins_from(values, "values", 2);
            const Busy busy(&t);
            t.set_clamp(std::move(n), v);
          },
          py::arg("nodes"), py::arg("values"))
      .def(
          "set_field", [](TemperedSampler& t, const py::object& nodes, const py::object& values) {
            std::vector<int32_t> n = nodes.is_none() ? std::vector<int32_t>{} : indices_from(nodes, "nodes");
            if (!nodes.is_none() && n.empty()) {  // the C++ call reads no nodes as every node
              throw InvalidArgument("set_field: nodes is empty; give None for a field on every node, or call clear_field() for none");
            }
            expect_rows(values, "values", t.num_chains(), nodes.is_none() ? t.graph().num_nodes() : static_cast<int64_t>(n.size()), true);
            const std::vector<float> v = from_numpy<float>(values, "values", 2);
            const Busy busy(&t);
            t.set_field(std::move(n), v);
          },
          py::arg("nodes"), py::arg("values"))
      .def("clear_clamp",
           [](TemperedSampler& t) {
             const Busy busy(&t);
             t.clear_clamp();
           })
      .def("clear_field",
           [](TemperedSampler& t) {
             const Busy busy(&t);
             t.clear_field();
           })
      .def(
          "run",
          [](TemperedSampler& t, SamplingSchedule schedule, bool moments, bool energy, const py::object& groups,  // by value: as Sampler.run
             const py::object& snapshots, const py::object& progress) {
            const ObserverSpec spec = observer_from(moments, energy, groups, snapshots);
            Observations o;
            {
              const Busy busy(&t);
              ProgressScope scope(t, progress_from(progress, "TemperedSampler.run"));
              ReleaseGil release;
              o = t.run(schedule, spec);
            }
            return wrap(std::move(o), spec, t.graph().num_nodes());
          },
          py::arg("schedule") = SamplingSchedule{}, py::arg("moments") = false, py::arg("energy") = false,
          py::arg("readout_groups") = py::none(), py::arg("snapshot_sweeps") = py::none(), py::arg("progress") = py::none(),
          "Runs the schedule (the ladder is the temperature), observing the target replicas. Releases the GIL; progress as in "
          "Sampler.run (Ctrl-C ends the run after the current stretch).")
      .def(
          "sweep",
          [](TemperedSampler& t, const py::object& n_arg, const py::object& progress) {
            const int64_t n = int_arg(n_arg, "sweeps", 0, SamplingSchedule::kMaxSweeps);
            const Busy busy(&t);
            ProgressScope scope(t, progress_from(progress, "TemperedSampler.sweep"));
            ReleaseGil release;
            t.sweep(n);
          },
          py::arg("sweeps"), py::arg("progress") = py::none(), "Sweeps every replica with its swap rounds; progress as in run().")
      .def_property_readonly(
          "stats",
          [](const TemperedSampler& t) {
            const Busy busy(&t);  // counted during a run
            const TemperingStats& s = t.stats();
            py::dict d;
            d["rounds"] = s.rounds;
            d["round_trips"] = s.round_trips;
            d["attempts"] = s.attempts;
            d["accepts"] = s.accepts;
            d["acceptance"] = s.acceptance();
            d["betas"] = s.betas;
            d["samples_while_adapting"] = s.samples_while_adapting;
            return d;
          },
          "Swap statistics: rounds, round_trips, attempts / accepts / acceptance per neighbouring pair, the ladder now, "
          "samples_while_adapting (samples run() took before the ladder's last adaptation: warm up for adapt_rounds x "
          "sweeps_per_round sweeps to have none).")
      .def_property_readonly(
          "sweep_count",
          [](const TemperedSampler& t) {
            const Busy busy(&t);
            return t.sweep_count();
          },
          "Sweeps every replica has run (an interrupted run counts those it did).")
      .def("__repr__", [](const TemperedSampler& t) {
        const Busy busy(&t);
        return "pbit.TemperedSampler(" + count_of(t.num_chains(), "chain") + " of " + count_of(t.graph().num_nodes(), "node") + ", " +
               count_of(t.num_replicas(), "replica") + ", " + t.kernel_description() + ")";
      });
  // Last, with every binding defined: daemon threads at interpreter exit (gil.hpp).
  pbit_python::guard_daemon_threads(m);
}
