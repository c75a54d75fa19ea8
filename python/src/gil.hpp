// The GIL in pbit's bindings, and daemon threads at interpreter exit.
//
// A daemon thread may be inside a pbit call when the main thread ends. Once the interpreter is
// finalizing, Python 3.11 to 3.13 end a thread that takes the GIL, or waits for it, with
// pthread_exit, and that forced unwinding runs the destructors of every C++ frame on the way
// without the GIL: pybind11 then frees its copy of the call's keyword arguments beside the
// finalization's garbage collection, and the process crashes (19 runs of 30 with 16 threads), or
// the unwinding meets a noexcept frame and aborts. Three layers keep pbit's frames out of it:
//
// 1. An atexit hook (it runs before finalization begins) sets `exiting` and waits, the GIL let go,
//    until no thread but the main one is inside a pbit call holding or wanting the GIL. Such a thread
//    parks at its next GIL point, and one that enters a pbit call from then on parks at once. This
//    is the layer that counts: without it, 2 runs of 20 of the daemon test's script still crashed.
// 2. Every binding runs through guarded_impl, which counts the threads inside pbit calls (the hook's
//    wait) and parks a thread whose call is unwound past it anyway.
// 3. Where pbit takes the GIL back itself (ReleaseGil, AcquireGil), a thread whose wait for it ends
//    in pthread_exit parks right there, before any frame is unwound; and AcquireGil's destructor
//    parks a thread ended in the Python code run under it.
// Layers 2 and 3 matter where the hook gave up waiting (a thread held in Python code inside a pbit
// call for over a second: test_daemon_threads_held_in_python_past_the_atexit_hook_do_not_crash_it)
// or did not run; the frames between pthread_exit and the parking point are unwound even then.
//
// A parked thread sleeps, holding nothing of Python's, until the process exits, as Python 3.14 itself
// does with such threads. The main thread, which runs the hook and the finalization, never parks.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>
#ifdef __GLIBCXX__
#include <cxxabi.h>  // abi::__forced_unwind
#endif

namespace pbit_python {
namespace py = pybind11;

inline unsigned long g_main_thread = 0;    // threading.main_thread().ident, read at import (in a forked child: the forking thread)
inline std::atomic<bool> g_exiting{false};  // set by the atexit hook
/// Threads other than the main one inside a pbit call that hold or wait for the GIL. The hook waits
/// for none; a thread adds itself before it looks at g_exiting, and the hook sets g_exiting before it
/// looks here (both sequentially consistent): one of the two sees the other.
inline std::atomic<int> g_python_threads{0};

inline bool on_main_thread() { return PyThread_get_thread_ident() == g_main_thread; }

inline bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

[[noreturn]] inline void park() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

/// This thread, about to hold or wait for the GIL (or holding it already: a binding's entry),
/// counted; or parked if the interpreter is exiting, the GIL let go first where it is held.
inline void enter_python(bool holding_gil = false) {
  if (on_main_thread()) return;
  g_python_threads.fetch_add(1);
  if (g_exiting.load() || finalizing()) {
    g_python_threads.fetch_sub(1);
    if (holding_gil) PyEval_SaveThread();
    park();
  }
}
inline void leave_python() {
  if (!on_main_thread()) g_python_threads.fetch_sub(1);
}

/// take() takes the GIL back. Where finalization begins after the checks, Python ends the thread
/// inside take(): the forced unwinding is caught right there and the thread parks.
template <class Take>
void take_gil_or_park(Take&& take) {
  enter_python();
#ifdef __GLIBCXX__
  try {
    take();
  } catch (abi::__forced_unwind&) {  // libstdc++'s name for pthread_exit's unwinding
    park();
  }
#else
  take();
#endif
}

/// py::gil_scoped_release (without disassoc) that takes the GIL back through take_gil_or_park.
class ReleaseGil {
 public:
  ReleaseGil() {
    py::detail::get_internals();  // as gil_scoped_release: set up before any gil_scoped_acquire
    state_ = PyEval_SaveThread();
    leave_python();
  }
  ReleaseGil(const ReleaseGil&) = delete;
  ReleaseGil& operator=(const ReleaseGil&) = delete;
  ~ReleaseGil() {
    take_gil_or_park([this] { PyEval_RestoreThread(state_); });
  }

 private:
  PyThreadState* state_ = nullptr;
};

/// py::gil_scoped_acquire, for a thread that let the GIL go (a progress check inside a run), taken
/// through take_gil_or_park.
class AcquireGil {
 public:
  AcquireGil() {
    take_gil_or_park([this] { acquire_.emplace(); });
  }
  AcquireGil(const AcquireGil&) = delete;
  AcquireGil& operator=(const AcquireGil&) = delete;
  ~AcquireGil() {
    if (finalizing() && !on_main_thread()) park();  // unwound by pthread_exit in Python code run under it
    acquire_.reset();
    leave_python();
  }

 private:
  std::optional<py::gil_scoped_acquire> acquire_;
};

// ------------------------------------------------------------------ every binding, guarded

using Impl = py::handle (*)(py::detail::function_call&);
/// Each guarded binding's own impl, by its record: filled at import, only read afterwards.
inline std::unordered_map<const py::detail::function_record*, Impl> g_impls;

inline py::handle guarded_impl(py::detail::function_call& call) {
  enter_python(/*holding_gil=*/true);
  struct Leave {
    ~Leave() {
      if (finalizing() && !on_main_thread()) park();  // unwound by pthread_exit: no further
      leave_python();
    }
  } leave;
  return g_impls.at(&call.func)(call);
}

/// The records of a pybind11 function (its overloads); a method, static method or property is
/// unwrapped first (a property gives its getter's, setter's and deleter's). None for anything else.
inline std::vector<py::detail::function_record*> function_records(py::handle f) {
  std::vector<py::detail::function_record*> out;
  if (!f) return out;
  if (PyObject_TypeCheck(f.ptr(), &PyProperty_Type)) {
    for (const char* part : {"fget", "fset", "fdel"}) {
      const auto more = function_records(f.attr(part));
      out.insert(out.end(), more.begin(), more.end());
    }
    return out;
  }
  if (PyObject_TypeCheck(f.ptr(), &PyStaticMethod_Type)) return function_records(f.attr("__func__"));
  f = py::detail::get_function(f);
  if (!f || !PyCFunction_Check(f.ptr())) return out;
  const py::handle self = PyCFunction_GET_SELF(f.ptr());
  if (!self || !PyCapsule_CheckExact(self.ptr())) return out;
  const auto cap = py::reinterpret_borrow<py::capsule>(self);
  if (!py::detail::is_function_record_capsule(cap)) return out;
  for (auto* rec = cap.get_pointer<py::detail::function_record>(); rec != nullptr; rec = rec->next) out.push_back(rec);
  return out;
}

/// Routes a pybind11 function (all its overloads) through guarded_impl.
inline void guard_function(py::handle f) {
  for (py::detail::function_record* rec : function_records(f)) {
    if (rec->impl != &guarded_impl) {
      g_impls.emplace(rec, rec->impl);
      rec->impl = &guarded_impl;
    }
  }
}

/// 1 where `f` is a pybind11 function all of whose overloads are guarded, 0 where one is not, -1
/// where it is no pybind11 function (pbit._pbit._guarded, for the test that every binding is).
inline int guarded(py::handle f) {
  const auto recs = function_records(f);
  if (recs.empty()) return -1;
  for (const auto* rec : recs) {
    if (rec->impl != &guarded_impl) return 0;
  }
  return 1;
}

/// Every binding in the module: its functions, and the methods and properties of its classes.
inline void guard_bindings(const py::module_& m) {
  for (const auto item : m.attr("__dict__").cast<py::dict>()) {
    const py::handle v = item.second;
    if (PyType_Check(v.ptr()) && py::detail::get_type_info(reinterpret_cast<PyTypeObject*>(v.ptr())) != nullptr) {
      for (const auto member : py::reinterpret_borrow<py::dict>(reinterpret_cast<PyTypeObject*>(v.ptr())->tp_dict)) {
        guard_function(member.second);
      }
    } else {
      guard_function(v);
    }
  }
}

/// The atexit hook (layer 1). Waits at most `limit`: a thread held up in Python code inside a pbit
/// call (a progress callback that blocks) delays the exit that long, and is then left to layers 2-3.
inline void drain_at_exit(std::chrono::milliseconds limit = std::chrono::milliseconds(1000)) {
  g_exiting.store(true);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (g_python_threads.load() > 0 && std::chrono::steady_clock::now() < until) {
    const py::gil_scoped_release release;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// Sets the hook up, once the module's bindings are all defined.
inline void guard_daemon_threads(py::module_& m) {
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  m.def("_guarded", [](const py::object& f) { return guarded(f); });  // defined first: guarded itself
  m.def("_threads_in_python", [] { return g_python_threads.load(); });  // for the fork test
  guard_bindings(m);
  py::module_::import("atexit").attr("register")(py::cpp_function([] { drain_at_exit(); }));
  // A forked child has one thread, the forking one, and it is the child's main thread (as threading
  // makes it): none of the parent's others is in a pbit call there (the child's hook would otherwise
  // wait its second for them), and the forking thread, where it was not the parent's main thread,
  // must not park in the child's exit (a pbit call after its atexit hook would hang it).
  py::module_::import("os").attr("register_at_fork")(py::arg("after_in_child") = py::cpp_function([] {
    g_main_thread = PyThread_get_thread_ident();
    // g_exiting is kept: a child forked by an atexit function run after the hook goes on through
    // the rest of the parent's atexit list, where the hook does not run again.
    g_python_threads.store(0);
  }));
}

}  // namespace pbit_python
