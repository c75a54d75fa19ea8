#include "pbit/harness/compare.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>
#include <tuple>
#include <type_traits>

#include "util/file_io.hpp"
#include "util/gnuplot.hpp"
#include "util/json_util.hpp"
#include "util/text.hpp"
#include "util/threads.hpp"
#include "pbit/build_info.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/harness/energy.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"

namespace pbit {

nlohmann::json machine_description() {
  utsname u{};
  uname(&u);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::string cpu = backend_device_name(Backend::reference);
  return {{"hostname", host},
          {"os", std::string(u.sysname) + " " + u.release},
          {"arch", u.machine},
          {"cpu", cpu.substr(0, cpu.rfind(" ("))},  // the model, without the thread count of one backend
          {"logical_cpus", sysconf(_SC_NPROCESSORS_ONLN)},
          {"gpu", backend_available(Backend::cuda) ? backend_device_name(Backend::cuda) : "none"}};
}

namespace {

/// Workload names and quality labels go into gnuplot titles, data files and a Markdown table.
std::string plain_label(const nlohmann::json& v, const std::string& key) {
  const std::string s = detail::get_string(v, key);
  if (s.empty()) detail::config_error(key, "must not be empty");
  if (!is_plain_label(s)) {
    std::string shown;  // (a line break in the name would break the message's line too)
    for (const char ch : s) shown += detail::is_control_byte(ch) ? detail::hex_byte(ch) : std::string(1, ch);
    detail::config_error(key, "'" + shown + "' is only spaces or holds a control character, a bidirectional control, a quote, a backslash or '|' " +
                                  "(it names rows, plot series and table cells)");
  }
  return s;
}

}  // namespace

bool is_plain_label(std::string_view s) {
  if (s.find_first_not_of(' ') == std::string_view::npos) return false;  // empty, or spaces only: an invisible name
  for (const char ch : s) {
    if (detail::is_control_byte(ch) || ch == '"' || ch == '\'' || ch == '\\' || ch == '|') return false;
  }
  for (size_t k = 0; k < s.size(); ++k) {
    if (detail::is_bidi_control_at(s, k)) return false;  // it would reverse the cells and title text after it
  }
  return true;
}

nlohmann::json build_description() {
  return {{"git_sha", build_git_sha()}, {"build_type", build_type()}, {"compiler", build_compiler()}, {"cuda_compiled", build_has_cuda()}};
}

std::string utc_timestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

CompareSuite parse_compare_suite(const nlohmann::json& j) {
  using namespace detail;
  CompareSuite s;
  s.source = j;
  detail::only_config_sections(j, detail::ConfigKind::compare_suite);
  if (!j.contains("workloads") || !j["workloads"].is_array() || j["workloads"].empty()) {
    config_error("workloads", "must be a non-empty array");
  }
  for (size_t k = 0; k < j["workloads"].size(); ++k) {
    const auto& w = j["workloads"][k];
    const std::string at = "workloads[" + std::to_string(k) + "]";
    only_keys(w, at, {"name", "kind", "graph", "model", "sweeps_per_sample", "steps", "image_side"});
    CompareWorkload x;
    if (!w.contains("name")) config_error(at + ".name", "missing");
    x.name = plain_label(w["name"], at + ".name");
    x.kind = w.contains("kind") ? get_string(w["kind"], at + ".kind", {"gibbs", "dbm_inference", "dtm_generation"}) : "gibbs";
    if (w.contains("steps")) x.steps = static_cast<int32_t>(get_int(w["steps"], at + ".steps", 1, 1000));
    if (w.contains("image_side")) x.image_side = static_cast<int32_t>(get_int(w["image_side"], at + ".image_side", 1, 1024));
    if (w.contains("graph")) x.graph = get_string(w["graph"], at + ".graph");
    if (w.contains("model")) x.model = get_string(w["model"], at + ".model");
    // At most 10^6: a row runs a warm-up sample and at least one timed sample whole, whatever
    // min_seconds says, and 2^32 - 1 sweeps a step on a 70x70 grid was a row of about 15 hours.
    if (w.contains("sweeps_per_sample")) x.sweeps_per_sample = get_int(w["sweeps_per_sample"], at + ".sweeps_per_sample", 1, 1000000);
    // A DTM sample is steps x sweeps_per_sample sweeps: 1000 steps of 10^6 were accepted, a row of
    // days on a 70x70 grid (helper-114).
    if (x.kind == "dtm_generation" && static_cast<int64_t>(x.steps) * x.sweeps_per_sample > 1000000) {
      config_error(at + ".sweeps_per_sample", "x steps is a DTM sample's sweeps, " + std::to_string(x.sweeps_per_sample) + " x " +
                                                  std::to_string(x.steps) + " here; at most 10^6");
    }
    if (!x.model.empty() && x.kind != "dbm_inference") config_error(at + ".model", "is for dbm_inference workloads; this one is " + x.kind);
    // Keys a kind does not read would be ignored without a word.
    for (const char* k : {"sweeps_per_sample", "steps", "image_side"}) {
      const bool reads = x.kind == "dtm_generation" || (x.kind == "dbm_inference" && std::string(k) == "sweeps_per_sample");
      if (w.contains(k) && !reads) config_error(at + "." + k, "has no effect on a " + x.kind + " workload");
    }
    if (!x.model.empty() && !x.graph.empty()) {
      config_error(at + ".graph", "and 'model' both given: a dbm_inference workload measures its model's own graph (give one)");
    }
    for (const CompareWorkload& y : s.workloads) {
      if (y.name == x.name) config_error(at + ".name", "'" + x.name + "' names an earlier workload too (rows and plots go by name)");
    }
    if (x.graph.empty() && x.model.empty()) config_error(at + ".graph", "give a topology spec (or, for dbm_inference, a model)");
    if (!x.graph.empty()) {
      try {
        make_topology(x.graph);
      } catch (const Error& e) {
        config_error(at + ".graph", e.what());
      }
    }
    s.workloads.push_back(x);
  }
  if (!j.contains("backends") || !j["backends"].is_array() || j["backends"].empty()) config_error("backends", "must be a non-empty array");
  for (size_t k = 0; k < j["backends"].size(); ++k) {
    const std::string at = "backends[" + std::to_string(k) + "]";
    s.backends.push_back(get_string(j["backends"][k], at, {"reference", "cpu", "cuda", "packed", "best"}));
    // A repeat would measure the same row twice.
    if (std::find(s.backends.begin(), s.backends.end() - 1, s.backends.back()) != s.backends.end() - 1) {
      config_error(at, "'" + s.backends.back() + "' is listed twice");
    }
  }
  if (!j.contains("chains") || !j["chains"].is_array() || j["chains"].empty()) config_error("chains", "must be a non-empty array");
  for (size_t k = 0; k < j["chains"].size(); ++k) {
    const std::string at = "chains[" + std::to_string(k) + "]";
    s.chains.push_back(static_cast<int32_t>(get_int(j["chains"][k], at, 1, 1 << 24)));
    if (std::find(s.chains.begin(), s.chains.end() - 1, s.chains.back()) != s.chains.end() - 1) {
      config_error(at, std::to_string(s.chains.back()) + " is listed twice");
    }
  }
  // (doubles: as float32, 0.1 s was recorded as idle_window_s 0.10000000149011612)
  if (j.contains("min_seconds")) s.min_seconds = get_double_in(j["min_seconds"], "min_seconds", 0.001, 3600);
  if (j.contains("idle_seconds")) s.idle_seconds = get_double_in(j["idle_seconds"], "idle_seconds", 0, 3600);
  if (j.contains("threads")) s.threads = static_cast<int>(get_int(j["threads"], "threads", 0, 4096));
  if (j.contains("platforms")) s.platforms = get_path(j["platforms"], "platforms");
  if (j.contains("output_dir")) s.output_dir = get_path(j["output_dir"], "output_dir");
  if (j.contains("quality")) {
    if (!j["quality"].is_array()) config_error("quality", "must be an array of {label, results}");
    for (size_t k = 0; k < j["quality"].size(); ++k) {
      const auto& q = j["quality"][k];
      const std::string at = "quality[" + std::to_string(k) + "]";
      only_keys(q, at, {"label", "results"});
      if (!q.contains("label") || !q.contains("results")) config_error(at, "needs 'label' and 'results'");
      s.quality.push_back({plain_label(q["label"], at + ".label"), get_path(q["results"], at + ".results")});
      for (size_t e = 0; e < k; ++e) {  // (one point per label on the plot, one row in the table)
        if (s.quality[e].label == s.quality.back().label) {
          config_error(at + ".label", "'" + s.quality.back().label + "' is quality[" + std::to_string(e) + "]'s label too");
        }
      }
    }
  }
  return s;
}

namespace detail {
void restart_sweep_count_if_full(Sampler& s, int64_t next) {
  if (s.sweep_count() + static_cast<uint64_t>(next) > static_cast<uint64_t>(SamplingSchedule::kMaxSweeps)) s.set_sweep_count(0);
}
}  // namespace detail

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/// Energy over one timed stretch: the GPU's total-energy counter when it has one, else its power
/// sampled every 20 ms (trapezoid rule); RAPL for the CPU.
class EnergyWindow {
 public:
  EnergyWindow(const energy::GpuEnergyMeter* gpu, const energy::CpuEnergyMeter* cpu) : gpu_(gpu), cpu_(cpu) {}
  ~EnergyWindow() {  // a stretch that threw (a failed row) leaves its power poller running
    stop_ = true;
    if (poller_.joinable()) poller_.join();
  }
  EnergyWindow(const EnergyWindow&) = delete;
  EnergyWindow& operator=(const EnergyWindow&) = delete;
  void start() {
    t0_ = now_s();
    gpu_counter_ = gpu_ && gpu_->total_energy_mj(e0_mj_);
    if (gpu_ && !gpu_counter_) {
      stop_ = false;
      samples_.clear();
      poller_ = std::thread([this] {
        while (!stop_) {
          uint32_t mw = 0;
          if (gpu_->power_mw(mw)) samples_.push_back({now_s(), mw * 1e-3});
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      });
    }
    if (cpu_) cpu0_ = cpu_->read();
  }
  void stop() {
    wall_ = now_s() - t0_;
    // -1: no reading (a failed second read, a counter that went backwards, fewer than two power samples).
    if (gpu_counter_) {
      uint64_t e1 = 0;
      const bool read = gpu_->total_energy_mj(e1);
      gpu_j_ = read && e1 >= e0_mj_ ? static_cast<double>(e1 - e0_mj_) * 1e-3 : -1;
    } else if (gpu_) {
      stop_ = true;
      poller_.join();
      gpu_j_ = -1;
      if (samples_.size() >= 2) {
        gpu_j_ = 0;
        for (size_t k = 1; k < samples_.size(); ++k) {
          gpu_j_ += 0.5 * (samples_[k].second + samples_[k - 1].second) * (samples_[k].first - samples_[k - 1].first);
        }
        gpu_j_ *= wall_ / (samples_.back().first - samples_.front().first);  // cover the edges
      }
    }
    if (cpu_) cpu_j_ = cpu_->joules_between(cpu0_, cpu_->read());
  }
  double wall() const { return wall_; }
  double gpu_joules() const { return gpu_j_; }
  double cpu_joules() const { return cpu_j_; }
  std::string gpu_source() const {
    if (!gpu_) return "unavailable";
    return gpu_counter_ ? "nvml_total_energy" : "nvml_power_sampling";
  }

 private:
  const energy::GpuEnergyMeter* gpu_;
  const energy::CpuEnergyMeter* cpu_;
  double t0_ = 0, wall_ = 0, gpu_j_ = -1, cpu_j_ = -1;
  energy::CpuEnergyMeter::Reading cpu0_;
  uint64_t e0_mj_ = 0;
  bool gpu_counter_ = false;
  std::atomic<bool> stop_{true};
  std::thread poller_;
  std::vector<std::pair<double, double>> samples_;
};

struct Measured {
  double wall = 0, flips = 0, sweeps = 0, samples = 0, gpu_j = -1, cpu_j = -1;
  std::string gpu_source;
  std::string kernel;  ///< Sampler::kernel_description() of the sweeps ("" where the model makes its own samplers)
};

/// Repeats `step` (one unit of work returning its flips, sweeps and samples) until min_seconds pass,
/// measuring energy over the whole stretch.
template <class Step>
Measured measure(Step&& step, double min_seconds, const energy::GpuEnergyMeter* gpu, const energy::CpuEnergyMeter* cpu) {
  step();  // warm-up: first-touch pages, caches, clocks
  Measured m;
  EnergyWindow w(gpu, cpu);
  w.start();
  const double t0 = now_s();
  do {
    const auto [f, sw, sa] = step();
    m.flips += f;
    m.sweeps += sw;
    m.samples += sa;
  } while (now_s() - t0 < min_seconds);
  w.stop();
  m.wall = w.wall();
  m.gpu_j = w.gpu_joules();
  m.cpu_j = w.cpu_joules();
  m.gpu_source = w.gpu_source();
  return m;
}

struct Work {
  double flips, sweeps, samples;
};

/// Raw Gibbs sweeps: a stretch of sweeps sized to take 0.05 to 0.1 s (or 1 sweep, where one takes longer).
Measured measure_gibbs(const CompareWorkload& w, Backend b, int32_t chains, int threads, double min_s, const energy::GpuEnergyMeter* gpu,
                       const energy::CpuEnergyMeter* cpu, int32_t& nodes) {
  const Topology t = make_topology(w.graph);
  const Graph g = with_random_weights(t.graph, 1, 0.25f, 0.1f);
  nodes = g.num_nodes();
  SamplerOptions o;
  o.backend = b;
  o.seed = 1;
  o.num_threads = threads;
  Sampler s(g, Coloring(g, t.colors), chains, o);
  // The stretch that took 0.05 s is kept (the loop doubled it once more: a row of 0.2 s sweeps ran 5
  // where 3 would do, helper-114).
  int64_t stretch = 1;
  for (;;) {
    const double t0 = now_s();
    s.sweep(stretch);
    if (now_s() - t0 >= 0.05 || stretch >= (1 << 20)) break;
    stretch *= 2;
  }
  const double n = g.num_nodes();
  Measured r = measure([&] {
    detail::restart_sweep_count_if_full(s, stretch);
    s.sweep(stretch);
    return Work{n * chains * stretch, static_cast<double>(stretch), static_cast<double>(chains) * stretch};
  }, min_s, gpu, cpu);
  r.kernel = s.kernel_description();
  return r;
}

/// DBM inference: `chains` images at once (one chain each), visible nodes clamped, labels read out
/// after sweeps_per_sample sweeps. A sample is one classified image.
Measured measure_dbm(const CompareWorkload& w, Backend b, int32_t chains, int threads, double min_s, const energy::GpuEnergyMeter* gpu,
                     const energy::CpuEnergyMeter* cpu, int32_t& nodes) {
  SparseDbm m;
  if (!w.model.empty()) {
    m = SparseDbm::load(w.model);
  } else {
    DbmConfig c;
    c.topology = w.graph;
    m = SparseDbm::create(c, 28, 28);
  }
  nodes = m.graph().num_nodes();
  SamplerOptions o;
  o.backend = b;
  o.seed = 1;
  o.num_threads = threads;
  Sampler s(m.graph(), Coloring(m.graph(), m.colors()), chains, o);
  // Images do not change the cost: random binary images clamp the visible nodes.
  rng::PhiloxStream rs(7, rng::kCompareWorkload);
  std::vector<int8_t> vis(static_cast<size_t>(chains) * m.visible().size());
  for (auto& v : vis) v = rs.next_u32() & 1 ? 1 : -1;
  s.set_clamp(m.visible(), vis);
  ObserverSpec spec;
  for (int32_t c = 0; c < 10; ++c) spec.readout_groups.emplace_back(m.labels().begin() + c * m.replicas(), m.labels().begin() + (c + 1) * m.replicas());
  const int64_t sweeps = w.sweeps_per_sample;
  const SamplingSchedule sched{sweeps / 2, sweeps - sweeps / 2, 1};
  const double free_nodes = m.graph().num_nodes() - static_cast<double>(m.visible().size());
  Measured r = measure([&] {
    detail::restart_sweep_count_if_full(s, sweeps);
    s.run(sched, BetaSchedule::constant(1.0f), spec);
    return Work{free_nodes * chains * sweeps, static_cast<double>(sweeps), static_cast<double>(chains)};
  }, min_s, gpu, cpu);
  r.kernel = s.kernel_description();
  return r;
}

/// DTM / MEBM generation: `chains` samples at once, T steps of sweeps_per_sample sweeps each, exactly
/// as Dtm::generate runs them (a sampler per step with the coupling field). An untrained model costs
/// the same as a trained one. A sample is one generated image.
Measured measure_dtm(const CompareWorkload& w, Backend b, int32_t chains, int threads, double min_s, const energy::GpuEnergyMeter* gpu,
                     const energy::CpuEnergyMeter* cpu, int32_t& nodes) {
  DtmConfig c;
  c.topology = w.graph;
  c.steps = w.steps;
  c.backend = to_string(b);
  c.threads = threads;
  c.batch_size = 1;
  const Dtm m(c, w.image_side, w.image_side);
  nodes = m.graph().num_nodes();
  const double n = nodes;
  return measure([&] {
    m.generate(chains, w.sweeps_per_sample);
    return Work{n * chains * w.sweeps_per_sample * w.steps, static_cast<double>(w.sweeps_per_sample * w.steps),
                static_cast<double>(chains)};
  }, min_s, gpu, cpu);
}

/// A topology spec's canonical name ("grid:70:G12" and "grid:70:G12:torus" are one graph), or the spec itself
/// where it names none.
std::string topology_name(const std::string& spec) {
  try {
    return make_topology(spec).name;
  } catch (const Error&) {
    return spec;
  }
}

// The shortest window whose energy a meter resolves: NVML's energy counter and power reading move
// every 20-100 ms, so a window of 1 s is read to within about 10%; RAPL's
// counters move every millisecond or so.
constexpr double kGpuMeterMinWindowS = 1.0, kCpuMeterMinWindowS = 0.1;

double idle_power(const energy::GpuEnergyMeter* gpu, double seconds) {
  if (!gpu || seconds <= 0) return 0;
  EnergyWindow w(gpu, nullptr);
  w.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  w.stop();
  return w.wall() > 0 && w.gpu_joules() > 0 ? w.gpu_joules() / w.wall() : 0;
}

}  // namespace

void detail::put_measured_energy(nlohmann::json& r, double joules, double idle_w, double wall_s, double flips, double samples,
                                 const std::string& source, double min_wall_s) {
  const double active = joules - idle_w * wall_s;
  if (joules < 0) {
    r["energy_source"] = "unavailable: " + source + " gave no reading for this row (a counter that could not be read, or too few power " +
                         "samples: raise min_seconds)";
  } else if (wall_s < min_wall_s) {
    r["energy_source"] = "unavailable: the row's " + format_number(wall_s) + " s are too short for " + source + " (it needs " +
                         format_number(min_wall_s) + " s or more: raise min_seconds)";
  } else if (!(active > 0)) {
    r["energy_source"] = "unavailable: " + source + " read no more than the idle draw (raise min_seconds)";
  } else {
    r["energy_source"] = source;
    r["energy_j"] = active;
    r["idle_power_w_subtracted"] = idle_w;
    r["energy_j_per_flip"] = active / flips;
    r["energy_j_per_sample"] = active / samples;
    // The whole draw too: the modeled FPGA's J/flip is its whole board's power, idle included
    // (helper-123: the H200's net 2.3e-9 J/flip was 3.0e-9 whole, 6-7.6x the FPGA's, not 4.6-5.9).
    r["energy_j_total"] = joules;
    r["energy_j_per_flip_total"] = joules / flips;
  }
}

nlohmann::json detail::quality_entry(const std::string& label, const QualityRun& r, const nlohmann::json& rows, double k_dtm,
                                   double e_cell_j) {
  const int64_t T = r.steps;
  const double nodes = r.num_nodes;
  double k_mix = k_dtm;
  std::string k_source = "k_mix_dtm";
  if (T == 1) {  // MEBM: its measured mixing time
    if (r.mixing_time >= 0) {
      k_mix = std::max(1.0, r.mixing_time);
      k_source = r.mixing_time >= 1 ? "measured mixing time" : "measured mixing time (under 1 sweep: 1)";
    } else {
      k_mix = r.sweeps_per_sample;
      k_source = "sweeps per sample (no finite mixing time measured)";
    }
  }
  // Three chip points: the paper's accounting (T K_mix L^2 E_cell, Jelincic 2025 Eq. 12: K_mix = 250
  // per DTM step; an MEBM, for which the paper gives no K_mix, at its measured mixing time), one rule
  // for both (each step at its own measured mixing time: the paper's K for the DTM against a measured
  // one for the MEBM made the MEBM 27x cheaper, helper-123), and the chip running the sweeps this run
  // generated with, the budget the measured devices are charged (each replica's, when tempered).
  const double run_flips = r.replicas * nodes * r.sweeps_per_sample;
  nlohmann::json at_mixing = nullptr;
  if (!r.step_mixing_times.empty()) {
    double sweeps = 0;
    for (const double m : r.step_mixing_times) sweeps += std::max(1.0, m);
    at_mixing = sweeps * nodes * e_cell_j;
  }
  nlohmann::json p = {{"label", label}, {"feature_fid", r.feature_fid}, {"steps", T},
                      {"sweeps_per_sample", r.sweeps_per_sample}, {"generation_replicas", r.replicas}, {"topology", r.topology},
                      {"chip_energy_j_per_sample", T * k_mix * nodes * e_cell_j}, {"chip_k_mix_sweeps_per_step", k_mix},
                      {"chip_k_mix_source", k_source}, {"chip_energy_j_per_sample_at_measured_mixing", at_mixing},
                      {"chip_mixing_time_sweeps_per_step", r.step_mixing_times.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.step_mixing_times)},
                      {"chip_energy_j_per_sample_at_run_sweeps", run_flips * e_cell_j}};
  // A device's energy per sample: its measured energy per flip times the flips of one sample, the
  // run's nodes x sweeps_per_sample (dtm train's sweeps_per_sample already spans all T steps) on
  // every replica; from rows of the same graph only.
  const std::string graph = topology_name(r.topology);
  nlohmann::json measured = nlohmann::json::array();
  bool same_graph = false, skipped = false;  // a dtm_generation row of this graph that ran, metered or not; one skipped
  for (const auto& row : rows) {
    if (!row.contains("kind") || row["kind"] != "dtm_generation" || topology_name(row.value("graph", std::string())) != graph) continue;
    if (row.contains("skipped")) {  // (no node count: a backend not available, or a failed row)
      skipped = true;
      continue;
    }
    if (row["num_nodes"].get<double>() != nodes) continue;
    same_graph = true;
    if (row.contains("energy_j_per_flip")) {  // (each names its workload: two of one graph were told apart by nothing)
      measured.push_back({{"workload", row.value("workload", std::string())}, {"backend", row["backend"]}, {"chains", row["chains"]},
                          {"energy_j_per_sample", row["energy_j_per_flip"].get<double>() * run_flips}});
    }
  }
  p["measured"] = measured;
  if (measured.empty()) {
    p["measured_note"] = same_graph ? "the dtm_generation rows of this graph have no energy (their energy_source says why)"
                         : skipped  ? "the dtm_generation rows of this graph were skipped or failed (their 'skipped' says why)"
                                    : "no dtm_generation workload of the suite runs on this graph (" + graph + ")";
  }
  return p;
}

nlohmann::json run_compare(const CompareSuite& suite, bool progress, const CompareJournal* journal) {
  const energy::Platforms plat = energy::load_platforms(suite.platforms);
  // The quality runs are read and checked before anything is measured (a bad one ended a finished
  // suite without writing anything).
  // Their values are checked too: a wrong type used to end the suite with an internal error after
  // every row was measured.
  using detail::QualityRun;
  std::vector<QualityRun> quality_runs;
  for (const QualityPoint& q : suite.quality) {
    std::error_code ec;  // (a name the system refuses is not there either: read_json_file says why below)
    if (std::filesystem::path(q.results).is_relative() && !std::filesystem::exists(q.results, ec) && !ec) {
      // The shipped suites name committed results (bench/results/...) from pbit's source tree, or
      // runs the user trains first (out/...).
      throw IoError("quality '" + q.label + "': no file '" + q.results + "' in the working folder " +
                        std::filesystem::current_path().string() + " (a 'pbit dtm train' result: train that run first, " +
                        "or run the suite from pbit's source tree, or give absolute paths)",
                    q.results, ENOENT);
    }
    const nlohmann::json r = read_json_file(q.results);
    const std::string where = "quality '" + q.label + "': " + q.results;
    if (!r.is_object()) throw InvalidConfig(where + " is not a JSON object (not a 'pbit dtm train' result?)");
    auto field = [&](const char* k) -> const nlohmann::json& {
      const auto it = r.find(k);
      if (it == r.end()) throw InvalidConfig(where + " has no '" + k + "' (not a 'pbit dtm train' result?)");
      return *it;
    };
    auto number = [&](const char* k, double lo, double hi, bool integer) {
      const nlohmann::json& v = field(k);
      if (!v.is_number() || (integer && !v.is_number_integer()) || !(v.get<double>() >= lo && v.get<double>() <= hi)) {
        throw InvalidConfig(where + ": '" + k + "' is " + v.dump() + ", not " + (integer ? "a whole number" : "a number") + " in [" +
                            detail::format_number(lo) + ", " + detail::format_number(hi) + "]");
      }
      return v.get<double>();
    };
    QualityRun run;
    run.feature_fid = number("feature_fid", 0, 1e12, false);
    run.steps = static_cast<int64_t>(number("steps", 1, 1000, true));
    run.sweeps_per_sample = number("sweeps_per_sample", 1, 1e15, false);
    run.num_nodes = number("num_nodes", 1, 2147483647.0, true);
    if (!field("topology").is_string()) throw InvalidConfig(where + ": 'topology' is not a string");
    run.topology = field("topology").get<std::string>();
    if (r.contains("generation_replicas")) run.replicas = number("generation_replicas", 1, 1024, true);
    // Each step's measured mixing time, when the run has them (final_autocorrelation[t].mixing_time_sweeps):
    // step 1's is an MEBM's K_mix, and all of them, one per step, give the chip at measured mixing.
    if (const auto it = r.find("final_autocorrelation"); it != r.end()) {
      if (!it->is_array()) throw InvalidConfig(where + ": 'final_autocorrelation' is not an array");
      std::vector<double> times;
      for (size_t t = 0; t < it->size(); ++t) {
        const nlohmann::json& st = (*it)[t];
        const std::string at = "final_autocorrelation[" + std::to_string(t) + "]";
        if (!st.is_object()) throw InvalidConfig(where + ": '" + at + "' is not an object");
        if (const auto m = st.find("mixing_time_sweeps"); m != st.end() && !m->is_null()) {
          if (!m->is_number() || !(m->get<double>() >= 0 && m->get<double>() <= 1e15)) {
            throw InvalidConfig(where + ": '" + at + ".mixing_time_sweeps' is " + m->dump() + ", not a number of sweeps");
          }
          if (t == 0) run.mixing_time = m->get<double>();
          times.push_back(m->get<double>());
        }
      }
      if (times.size() == static_cast<size_t>(run.steps)) run.step_mixing_times = std::move(times);
    }
    quality_runs.push_back(run);
  }
  // Every workload's model is built once before anything is measured: a model that cannot be built
  // (a missing model file, more data nodes than the graph's color holds) would otherwise end the
  // suite after the workloads before it were measured, with nothing written.
  for (size_t k = 0; k < suite.workloads.size(); ++k) {
    const CompareWorkload& w = suite.workloads[k];
    try {
      if (w.kind == "dbm_inference") {
        if (!w.model.empty()) {
          (void)SparseDbm::load(w.model);
        } else {
          DbmConfig c;
          c.topology = w.graph;
          (void)SparseDbm::create(c, 28, 28);
        }
      } else if (w.kind == "dtm_generation") {
        DtmConfig c;
        c.topology = w.graph;
        c.steps = w.steps;
        c.backend = "reference";
        c.batch_size = 1;
        (void)Dtm(c, w.image_side, w.image_side);
      }
    } catch (const Error& e) {
      std::string why = e.what();  // an InvalidConfig's own "invalid config: " is said once
      if (const std::string own = "invalid config: "; why.compare(0, own.size(), own) == 0) why.erase(0, own.size());
      throw InvalidConfig("workloads[" + std::to_string(k) + "] ('" + w.name + "'): " + why);
    }
  }
  std::string gpu_why = "no cuda backend in the suite", cpu_why;
  std::unique_ptr<energy::GpuEnergyMeter> gpu;
  bool wants_cuda = false;
  for (const auto& b : suite.backends) wants_cuda = wants_cuda || backend_from_string(b) == Backend::cuda;
  if (wants_cuda) gpu = energy::GpuEnergyMeter::open(backend_device_pci_bus_id(Backend::cuda), &gpu_why);
  auto cpu = energy::CpuEnergyMeter::open(&cpu_why);
  // "best" is cuda or cpu here; where the list names that backend too, it is measured once.
  std::vector<Backend> backends;
  for (const std::string& bname : suite.backends) {
    const Backend b = backend_from_string(bname);
    if (std::find(backends.begin(), backends.end(), b) != backends.end()) {
      if (progress) std::fprintf(stderr, "compare: '%s' is %s here, listed already: measured once\n", bname.c_str(), to_string(b).c_str());
      continue;
    }
    backends.push_back(b);
  }
  // The idle draw only when a row is to be measured: a call whose rows all come from the journal (a
  // device job's later lease) does not spend idle_seconds of its time on it.
  int64_t to_measure = 0, from_journal = 0;  // (the journal's rows that match none here are not counted)
  for (const CompareWorkload& w : suite.workloads) {
    for (const Backend b : backends) {
      for (int32_t chains : suite.chains) {
        if (!backend_available(b)) continue;
        ++(journal && journal->done(w.name, to_string(b), chains) ? from_journal : to_measure);
      }
    }
  }
  const double idle_s = to_measure > 0 ? suite.idle_seconds : 0;
  // Each meter's idle draw, over a window it resolves: NVML's over at least kGpuMeterMinWindowS (a
  // 0.1 s window's error was subtracted from every cuda row unsaid, helper-114). The windows each
  // meter read are recorded (idle_window_s alone was recorded where no meter read one).
  double gpu_idle_s = gpu && idle_s > 0 ? std::max(idle_s, kGpuMeterMinWindowS) : 0,
         cpu_idle_s = cpu && idle_s > 0 ? std::max(idle_s, kCpuMeterMinWindowS) : 0;
  for (const auto& [window, meter, floor] : {std::tuple{gpu_idle_s, "GPU's", "NVML"}, std::tuple{cpu_idle_s, "CPU's", "RAPL"}}) {
    if (progress && window > idle_s) {
      std::fprintf(stderr, "compare: the %s idle draw is measured over %s s, not idle_seconds %s: %s resolves no shorter window\n", meter,
                   detail::format_number(window).c_str(), detail::format_number(idle_s).c_str(), floor);
    }
  }
  const double gpu_idle_w = idle_power(gpu.get(), gpu_idle_s);
  if (gpu_idle_s > 0 && gpu_idle_w <= 0) gpu_idle_s = 0;  // (no reading: nothing subtracted)
  double cpu_idle_w = 0;
  if (cpu && idle_s > 0) {
    const energy::CpuEnergyMeter::Reading e0 = cpu->read();
    const double t0 = now_s();
    std::this_thread::sleep_for(std::chrono::duration<double>(cpu_idle_s));
    const double j = cpu->joules_between(e0, cpu->read());
    if (j >= 0) {
      cpu_idle_w = j / (now_s() - t0);
    } else {  // a counter that could not be read: no row is measured against an unknown idle draw
      cpu.reset();
      cpu_idle_s = 0;
      cpu_why = "RAPL counters could not be read during the idle window";
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const CompareWorkload& w : suite.workloads) {
    for (const Backend b : backends) {
      if (!backend_available(b)) {
        rows.push_back({{"workload", w.name}, {"kind", w.kind}, {"graph", w.graph}, {"backend", to_string(b)},
                        {"skipped", "backend not available here: " + backend_unavailable_reason(b)}});
        if (progress) std::fprintf(stderr, "compare: %s on %s skipped (not available)\n", w.name.c_str(), to_string(b).c_str());
        continue;
      }
      for (int32_t chains : suite.chains) {
        if (const nlohmann::json* done = journal ? journal->done(w.name, to_string(b), chains) : nullptr) {
          rows.push_back(*done);
          if (progress) std::fprintf(stderr, "compare: %-16s %-9s chains %-7d measured before (the journal)\n", w.name.c_str(), to_string(b).c_str(), chains);
          continue;
        }
        int32_t nodes = 0;
        const energy::GpuEnergyMeter* g = b == Backend::cuda ? gpu.get() : nullptr;
        // Said before it starts: a row runs a warm-up sample and then timed ones whatever min_seconds,
        // and a large one's sample takes minutes on a CPU (the MEBM's at 65536 chains about 18 on 2
        // cores), which went by without a line.
        if (progress) {
          std::fprintf(stderr, "compare: %-16s %-9s chains %-7d measuring (a warm-up sample, then at least %g s)...\n", w.name.c_str(),
                       to_string(b).c_str(), chains, suite.min_seconds);
        }
        // A row that fails (more chains than memory holds, a device error) is recorded as failed and
        // the suite goes on: the rows measured before it are not thrown away. The command says so.
        Measured m;
        try {
          m = w.kind == "gibbs"           ? measure_gibbs(w, b, chains, suite.threads, suite.min_seconds, g, cpu.get(), nodes)
              : w.kind == "dbm_inference" ? measure_dbm(w, b, chains, suite.threads, suite.min_seconds, g, cpu.get(), nodes)
                                          : measure_dtm(w, b, chains, suite.threads, suite.min_seconds, g, cpu.get(), nodes);
        } catch (const Error& e) {
          // What a row can run into (memory, the device); anything else is the suite's or a bug, and
          // ends the run.
          if (!dynamic_cast<const OutOfMemory*>(&e) && !dynamic_cast<const CudaError*>(&e)) throw;
          rows.push_back({{"workload", w.name}, {"kind", w.kind}, {"graph", w.graph}, {"backend", to_string(b)}, {"chains", chains},
                          {"skipped", std::string("failed: ") + e.what()}, {"error", e.what()}});
          if (progress) {
            std::fprintf(stderr, "compare: %s on %s, %d chains: FAILED: %s\n", w.name.c_str(), to_string(b).c_str(), chains,
                         detail::printable(e.what()).c_str());
          }
          continue;
        }
        nlohmann::json r = {{"workload", w.name},
                            {"kind", w.kind},
                            {"graph", w.graph},  // (empty for a model file's workload: the parser refuses both)
                            {"backend", to_string(b)},
                            {"device", backend_device_name(b, suite.threads)},
                            {"chains", chains},
                            {"num_nodes", nodes},
                            {"wall_s", m.wall},
                            {"flips_per_ns", m.flips / m.wall / 1e9},
                            {"sweeps_per_s_per_chain", m.sweeps / m.wall},
                            {"samples_per_s", m.samples / m.wall}};
        // Energy of the device that did the work, less its idle draw over the same time. A row the
        // meter did not see, or whose draw does not rise above idle, reports no energy (and why)
        // rather than a number that is not a measurement.
        if (!w.model.empty()) r["model"] = w.model;  // a dbm_inference workload of a model file: its own graph
        if (!m.kernel.empty()) r["kernel"] = m.kernel;
        // The host threads the row was allowed (the suite asked for `threads`, 0 = OpenMP's default;
        // at most 4 a core, and the reference loop runs one): it recorded the request, 4096 beside 8.
        // A kernel may run fewer (one per block of 16 chains): `kernel` says what ran. A cuda row keeps
        // the request (its sweeps run on the GPU).
        r["threads"] = b == Backend::cuda ? suite.threads : b == Backend::reference ? 1 : detail::omp_threads(suite.threads, /*for_region=*/false);
        if (b == Backend::cuda && gpu) {
          detail::put_measured_energy(r, m.gpu_j, gpu_idle_w, m.wall, m.flips, m.samples, m.gpu_source, kGpuMeterMinWindowS);
        } else if (b != Backend::cuda && cpu) {
          detail::put_measured_energy(r, m.cpu_j, cpu_idle_w, m.wall, m.flips, m.samples, "rapl", kCpuMeterMinWindowS);
        } else {
          r["energy_source"] = "unavailable: " + (b == Backend::cuda ? gpu_why : cpu_why);
        }
        if (progress) {
          std::fprintf(stderr, "compare: %-16s %-9s chains %-7d %9.3f flips/ns  %s\n", w.name.c_str(), to_string(b).c_str(), chains,
                       r["flips_per_ns"].get<double>(), r["energy_source"].get<std::string>().c_str());
        }
        rows.push_back(r);
        if (journal) journal->finished(r);
      }
    }
  }
  // Modeled platforms, on the same definitions (flips = spin updates).
  const energy::FpgaModel& f = plat.fpga;
  const energy::RngChipModel& c = plat.chip;
  // The DTM paper's reference sample (70x70 grid, T = 8 steps) at the platforms file's k_mix_dtm.
  const double k_dtm = plat.source["rng_chip"]["k_mix_dtm"]["value"].get<double>();
  const int64_t L = 70, T = 8;
  const double K = k_dtm;
  nlohmann::json modeled = {
      {"fpga", {{"flips_per_ns_low", f.flips_per_s_low / 1e9}, {"flips_per_ns_high", f.flips_per_s_high / 1e9}, {"pbits", f.pbits},
                {"chains", 1}, {"board_power_w", f.board_power_w},
                {"energy_j_per_flip_low", f.joules_per_flip(f.flips_per_s_high)},
                {"energy_j_per_flip_high", f.joules_per_flip(f.flips_per_s_low)},
                {"board_power_source", plat.source["fpga"]["board_power_w"]["source"]},
                {"sweeps_per_s", f.flips_per_s_high / f.pbits},  // (the high rate's; kept for earlier readers)
                {"sweeps_per_s_low", f.flips_per_s_low / f.pbits}, {"sweeps_per_s_high", f.flips_per_s_high / f.pbits}}},
      {"rng_chip", {{"energy_j_per_flip", c.e_cell_j}, {"cell_rate_hz", c.cell_rate_hz},
                    {"flips_per_ns_70x70", static_cast<double>(L * L) * c.cell_rate_hz / 1e9},
                    {"dtm_energy_j_per_sample", c.joules_per_sample(T, K, L)},
                    {"dtm_seconds_per_sample", c.seconds_per_sample(T, K)},
                    // (snake_case keys with their units: T, k_mix and L before 2026-12-07, helper-114)
                    {"dtm_parameters", {{"steps", T}, {"k_mix_sweeps_per_step", K}, {"grid_side", L}}}}},
      {"pdnn", {{"energy_j_per_operation", plat.pdnn.joules_per_operation(784, 10, 1, false, true)}, {"inputs", 784}, {"samples", 10},
                {"input_bits", 1}, {"weights", "sram"}}}};
  // Energy per sample against quality (the DTM paper's Fig. 1): each trained DTM / MEBM on the modeled
  // chip (E = T K L^2 E_cell, K = k_mix_dtm for a DTM and the model's measured mixing time for an
  // MEBM), and on every measured device at its measured energy per flip.
  nlohmann::json quality = nlohmann::json::array();
  for (size_t qi = 0; qi < suite.quality.size(); ++qi) {
    quality.push_back(detail::quality_entry(suite.quality[qi].label, quality_runs[qi], rows, k_dtm, c.e_cell_j));
    if (quality.back().contains("measured_note") && progress) {  // (results.md says it too)
      std::fprintf(stderr, "note: quality '%s' has no measured point: %s\n", suite.quality[qi].label.c_str(),
                   quality.back()["measured_note"].get<std::string>().c_str());
    }
  }
  nlohmann::json out = {{"suite", suite.source},
                       {"timestamp_utc", utc_timestamp()},
                       {"machine", machine_description()},
                       {"build", build_description()},
                       {"energy", {{"gpu_meter", gpu ? "nvml (" + gpu->name() + ")" : "unavailable: " + gpu_why},
                                   {"gpu_idle_w", gpu_idle_w},
                                   {"cpu_meter", cpu ? "rapl" : "unavailable: " + cpu_why},
                                   {"cpu_idle_w", cpu_idle_w},
                                   {"idle_window_s", idle_s},
                                   {"gpu_idle_window_s", gpu_idle_s},
                                   {"cpu_idle_window_s", cpu_idle_s}}},
                       {"platforms", plat.source},
                       {"modeled", modeled},
                       {"quality", quality},
                       {"results", rows}};
  if (journal) out["journal"] = {{"rows_measured_before", from_journal}, {"rows_measured_now", to_measure}};
  return out;
}

// ------------------------------------------------------------------ outputs

namespace {

std::string fmt(double x, const char* f = "%.4g") {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

/// The measured rows (skipped ones and, where `needs` names a key, those without it left out) as
/// plot series, one per workload on a backend ("workload / backend", in name order), each row as
/// point(row).
template <class F>
auto rows_by_series(const nlohmann::json& rows, const char* needs, F&& point) {
  std::map<std::string, std::vector<std::invoke_result_t<F&, const nlohmann::json&>>> series;
  for (const auto& r : rows) {
    if (r.contains("skipped") || (needs && !r.contains(needs))) continue;
    series[r["workload"].get<std::string>() + " / " + r["backend"].get<std::string>()].push_back(point(r));
  }
  return series;
}

}  // namespace

std::vector<std::string> compare_output_files(const std::string& dir) {
  std::vector<std::string> files = {dir + "/results.json", dir + "/results.md"};
  for (const char* plot : {"flips_vs_chains", "energy_vs_quality"}) {
    for (const char* ext : {".dat", ".gp", ".png"}) files.push_back(dir + "/" + plot + ext);
  }
  return files;
}

std::vector<std::string> write_compare_outputs(const nlohmann::json& res, const std::string& dir) {
  make_directories(dir);
  std::vector<std::string> written;
  write_json_file(dir + "/results.json", res);
  written.push_back(dir + "/results.json");

  // Markdown.
  std::ostringstream md;
  md << "# pbit compare\n\n";
  md << "Machine: " << res["machine"]["cpu"].get<std::string>() << "; GPU: " << res["machine"]["gpu"].get<std::string>()
     << "; build " << res["build"]["git_sha"].get<std::string>() << ".\n\n";
  const double gpu_idle = res["energy"]["gpu_idle_w"].get<double>(), cpu_idle = res["energy"]["cpu_idle_w"].get<double>();
  md << "Energy: GPU " << res["energy"]["gpu_meter"].get<std::string>()
     << (gpu_idle > 0 ? " (idle " + fmt(gpu_idle) + " W subtracted)"
         : res.contains("journal") && res["journal"].value("rows_measured_now", 1) == 0
             ? " (no row measured in this call: each row from the journal keeps the idle draw it had subtracted)"
             : " (no idle draw measured or subtracted)")
     << "; CPU "
     << res["energy"]["cpu_meter"].get<std::string>()
     << (cpu_idle > 0 ? " (idle " + fmt(cpu_idle) + " W subtracted)"
         : res["energy"]["cpu_meter"] == "rapl" ? " (no idle draw measured or subtracted)" : "")
     << ".\n\n";
  md << "| workload | backend | chains | flips/ns | sweeps/s per chain | samples/s | wall s | J/flip above idle | J/flip, idle included | energy source |\n";
  md << "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : res["results"]) {
    if (r.contains("skipped")) {
      md << "| " << r["workload"].get<std::string>() << " | " << r["backend"].get<std::string>() << " | "
         << (r.contains("chains") ? std::to_string(r["chains"].get<int64_t>()) : std::string()) << " | | | | | | | skipped: "
         << [&] {  // one table cell: an error message may hold '|' or a line break
              std::string t = r["skipped"].get<std::string>();
              for (char& ch : t)
                if (ch == '|' || ch == '\n' || ch == '\r') ch = ' ';
              return t;
            }() << " |\n";
      continue;
    }
    md << "| " << r["workload"].get<std::string>() << " | " << r["backend"].get<std::string>() << " | " << r["chains"].get<int>()
       << " | " << fmt(r["flips_per_ns"]) << " | " << fmt(r["sweeps_per_s_per_chain"]) << " | " << fmt(r["samples_per_s"]) << " | "
       << fmt(r["wall_s"], "%.2f") << " | " << (r.contains("energy_j_per_flip") ? fmt(r["energy_j_per_flip"]) : "n/a") << " | "
       << (r.contains("energy_j_per_flip_total") ? fmt(r["energy_j_per_flip_total"]) : "n/a") << " | " << r["energy_source"].get<std::string>() << " |\n";
  }
  const auto& mo = res["modeled"];
  md << "\n## Modeled platforms (the platforms file in results.json, with sources)\n\n";
  md << "| platform | flips/ns | J/flip | note |\n|---|---:|---:|---|\n";
  md << "| FPGA sparse Ising machine (Niazi 2024) | " << fmt(mo["fpga"]["flips_per_ns_low"]) << " to " << fmt(mo["fpga"]["flips_per_ns_high"])
     << " | " << fmt(mo["fpga"]["energy_j_per_flip_low"]) << " to " << fmt(mo["fpga"]["energy_j_per_flip_high"]) << " | one chain, "
     << mo["fpga"]["pbits"].get<int>() << " p-bits, the whole board's power, " << fmt(mo["fpga"]["board_power_w"]) << " W (as the platforms file gives it) |\n";
  md << "| all-transistor RNG chip (Jelincic 2025), 70x70 | " << fmt(mo["rng_chip"]["flips_per_ns_70x70"]) << " | "
     << fmt(mo["rng_chip"]["energy_j_per_flip"]) << " | DTM sample (T=" << mo["rng_chip"]["dtm_parameters"]["steps"].get<int64_t>()
     << ", K=" << fmt(mo["rng_chip"]["dtm_parameters"]["k_mix_sweeps_per_step"]) << ", L=" << mo["rng_chip"]["dtm_parameters"]["grid_side"].get<int64_t>()
     << "): " << fmt(mo["rng_chip"]["dtm_energy_j_per_sample"])
     << " J in " << fmt(mo["rng_chip"]["dtm_seconds_per_sample"]) << " s |\n";
  md << "| p-DNN (Ghantasala 2025), n=784, T=10 | | | " << fmt(mo["pdnn"]["energy_j_per_operation"])
     << " J per operation (one p-bit neuron, 784 binary inputs, SRAM weights) |\n";
  if (res["quality"].empty()) {
    md << "\nNo 'quality' runs in the suite: the energy-per-sample against quality plot is not drawn.\n";
  } else {
    md << "\n## Energy per sample against quality\n\nThe modeled chip three times: at the DTM paper's K_mix sweeps per step (an MEBM, "
          "for which the paper gives none, at its measured mixing time), at every step's measured mixing time (one rule for the DTM and "
          "the MEBM), and at the sweeps the run generated with (the budget the measured devices are charged).\n\n"
          "| model | feature-FID | sweeps/sample | chip J/sample at K_mix (K, source) | chip J/sample at measured mixing | "
          "chip J/sample at the run's sweeps | measured J/sample |\n"
          "|---|---:|---:|---:|---:|---:|---|\n";
    for (const auto& q : res["quality"]) {
      std::string meas;
      for (const auto& m : q["measured"]) {
        meas += m.value("workload", std::string()) + " on " + m["backend"].get<std::string>() + " (" + std::to_string(m["chains"].get<int>()) +
                " chains) " + fmt(m["energy_j_per_sample"]) + "; ";
      }
      md << "| " << q["label"].get<std::string>() << " | " << fmt(q["feature_fid"]) << " | " << q["sweeps_per_sample"].get<int64_t>() << " | "
         << fmt(q["chip_energy_j_per_sample"]) << " (" << fmt(q["chip_k_mix_sweeps_per_step"]) << ", " << q["chip_k_mix_source"].get<std::string>()
         << ") | " << (q.value("chip_energy_j_per_sample_at_measured_mixing", nlohmann::json()).is_number() ? fmt(q["chip_energy_j_per_sample_at_measured_mixing"]) : "n/a")
         << " | " << fmt(q["chip_energy_j_per_sample_at_run_sweeps"]) << " | "
         << (meas.empty() ? q.value("measured_note", std::string("none measured")) : meas) << " |\n";
    }
  }
  detail::write_file_atomically(dir + "/results.md", md.str());
  written.push_back(dir + "/results.md");

  // flips/ns against chains, one series per (workload, backend), the FPGA as two horizontal lines.
  std::ostringstream dat, gp;
  dat << "# chains flips_per_ns, one block per series (gnuplot index)\n";
  std::vector<std::string> titles;
  const auto series = rows_by_series(res["results"], nullptr, [](const nlohmann::json& r) {
    return std::pair{r["chains"].get<int>(), r["flips_per_ns"].get<double>()};
  });
  for (const auto& [name, pts] : series) {
    dat << "# " << name << "\n";
    for (const auto& [c, v] : pts) dat << c << " " << v << "\n";
    dat << "\n\n";
    titles.push_back(name);
  }
  detail::write_file_atomically(dir + "/flips_vs_chains.dat", dat.str());
  gp << "# gnuplot flips_vs_chains.gp  (data: flips_vs_chains.dat)\n"
     << "set terminal pngcairo size 900,600 noenhanced\nset output 'flips_vs_chains.png'\n"
     << "set logscale xy\nset xlabel 'chains'\nset ylabel 'flips/ns'\nset key outside right\nset grid\n"
     << "set title 'Throughput vs chains, every workload''s sweeps (FPGA: one chain, Niazi 2024)'\n"
     << "fpga_lo = " << mo["fpga"]["flips_per_ns_low"].get<double>() << "\nfpga_hi = " << mo["fpga"]["flips_per_ns_high"].get<double>()
     << "\nplot ";
  for (size_t k = 0; k < titles.size(); ++k) {
    gp << "'flips_vs_chains.dat' index " << k << " with linespoints title " << detail::gnuplot_quote(titles[k]) << ", ";
  }
  gp << "fpga_lo with lines dt 2 lc rgb 'black' title 'FPGA " << fmt(mo["fpga"]["flips_per_ns_low"]) << " flips/ns (published)', "
     << "fpga_hi with lines dt 3 lc rgb 'black' title 'FPGA " << fmt(mo["fpga"]["flips_per_ns_high"]) << " flips/ns (published)'\n";
  detail::write_file_atomically(dir + "/flips_vs_chains.gp", gp.str());
  written.push_back(dir + "/flips_vs_chains.dat");
  written.push_back(dir + "/flips_vs_chains.gp");
  std::vector<std::string> plots = {"flips_vs_chains"};
  if (!res["quality"].empty()) {
    std::ostringstream qd, qg;
    // Blocks (gnuplot indexes) only for what there is: no empty block, no NaN placeholder (helper-88).
    // The chip at K_mix (each point named by its model), at the run's sweeps, at the measured mixing
    // times where a run measured them all, and each measured device series (a workload on a backend),
    // its points named by their chains: one text label each had piled up unreadably (helper-123).
    std::vector<std::string> series;  // the plot's clauses, one per block after the first two
    int block = 1;
    qd << "# energy_j_per_sample feature_fid label ; index 0: modeled chip at K_mix, index 1: modeled chip at the run's sweeps, "
          "then the chip at measured mixing times (if any), then one block per measured workload and backend\n";
    for (const auto& q : res["quality"]) qd << q["chip_energy_j_per_sample"].get<double>() << " " << q["feature_fid"].get<double>() << " \"" << q["label"].get<std::string>() << "\"\n";
    qd << "\n\n";
    for (const auto& q : res["quality"]) qd << q["chip_energy_j_per_sample_at_run_sweeps"].get<double>() << " " << q["feature_fid"].get<double>() << "\n";
    std::ostringstream mix;
    for (const auto& q : res["quality"]) {
      if (!q.value("chip_energy_j_per_sample_at_measured_mixing", nlohmann::json()).is_number()) continue;
      mix << q["chip_energy_j_per_sample_at_measured_mixing"].get<double>() << " " << q["feature_fid"].get<double>() << "\n";
    }
    if (!mix.str().empty()) {
      qd << "\n\n" << mix.str();
      series.push_back("'' index " + std::to_string(++block) + " using 1:2 with points pt 8 ps 1.5 title 'modeled RNG chip, each step at its measured mixing time'");
    }
    std::map<std::string, std::string> devices;  // "workload on backend" -> its points
    for (const auto& q : res["quality"])
      for (const auto& m : q["measured"]) {
        devices[m.value("workload", std::string("?")) + " on " + m["backend"].get<std::string>()] +=
            detail::format_number(m["energy_j_per_sample"].get<double>()) + " " + detail::format_number(q["feature_fid"].get<double>()) + " \"" +
            std::to_string(m["chains"].get<int>()) + "\"\n";
      }
    for (const auto& [name, pts] : devices) {
      qd << "\n\n# " << name << "\n" << pts;
      ++block;
      series.push_back("'' index " + std::to_string(block) + " using 1:2 with points pt 5 ps 1.5 title " +
                       detail::gnuplot_quote("measured: " + name + " (points: chains)") + ", '' index " + std::to_string(block) +
                       " using 1:2:3 with labels offset 1,-1 notitle");
    }
    detail::write_file_atomically(dir + "/energy_vs_quality.dat", qd.str());
    qg << "# gnuplot energy_vs_quality.gp  (data: energy_vs_quality.dat)\n"
       << "set terminal pngcairo size 1000,700 noenhanced\nset output 'energy_vs_quality.png'\n"
       << "set logscale x\nset xlabel 'energy per sample (J)'\nset ylabel 'feature-FID (lower is better)'\nset grid\n"
       << "set key below\nset offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1\n"
       << "set title 'Energy per sample vs quality (cf. Jelincic et al. 2025, Fig. 1)'\n"
       << "plot 'energy_vs_quality.dat' index 0 using 1:2 with points pt 7 ps 1.5 title 'modeled RNG chip, K_mix a step (k_mix_dtm, " << fmt(mo["rng_chip"]["dtm_parameters"]["k_mix_sweeps_per_step"])
       << ", for a DTM; an MEBM''s measured mixing time)', "
       << "'' index 0 using 1:2:3 with labels offset 1,1 notitle, "
       << "'' index 1 using 1:2 with points pt 6 ps 1.5 title 'modeled RNG chip, the run''s sweeps'";
    for (const std::string& c : series) qg << ", " << c;
    qg << "\n";
    detail::write_file_atomically(dir + "/energy_vs_quality.gp", qg.str());
    written.push_back(dir + "/energy_vs_quality.dat");
    written.push_back(dir + "/energy_vs_quality.gp");
    plots.push_back("energy_vs_quality");
  }
  // Energy per flip against chains, where rows have a reading: each series (a workload on a backend)
  // idle included, the basis of the FPGA's whole-board figure drawn beside it, and above idle dashed
  // (J/flip was the comparison's main energy figure and had no plot, helper-123).
  const auto per_flip = rows_by_series(res["results"], "energy_j_per_flip_total", [](const nlohmann::json& r) {
    return std::tuple{r["chains"].get<int>(), r["energy_j_per_flip"].get<double>(), r["energy_j_per_flip_total"].get<double>()};
  });
  if (!per_flip.empty()) {
    std::ostringstream ed, eg;
    ed << "# chains energy_j_per_flip (above idle) energy_j_per_flip_total (idle included), one block per series (gnuplot index)\n";
    eg << "# gnuplot energy_per_flip.gp  (data: energy_per_flip.dat)\n"
       << "set terminal pngcairo size 1000,650 noenhanced\nset output 'energy_per_flip.png'\n"
       << "set logscale xy\nset xlabel 'chains'\nset ylabel 'energy per flip (J)'\nset key below\nset grid\n"
       << "set title 'Measured energy per flip vs chains (FPGA: its whole board, one chain)'\n"
       << "fpga_lo = " << mo["fpga"]["energy_j_per_flip_low"].get<double>() << "\nfpga_hi = " << mo["fpga"]["energy_j_per_flip_high"].get<double>()
       << "\nplot ";
    int k = 0;
    for (const auto& [name, pts] : per_flip) {
      ed << "# " << name << "\n";
      for (const auto& [c, above, total] : pts) ed << c << " " << detail::format_number(above) << " " << detail::format_number(total) << "\n";
      ed << "\n\n";
      eg << "'energy_per_flip.dat' index " << k << " using 1:3 with linespoints lw 2 lc " << k + 1 << " title "
         << detail::gnuplot_quote(name + ", idle included") << ", '' index " << k << " using 1:2 with linespoints dt 2 lc " << k + 1
         << " title " << detail::gnuplot_quote(name + ", above idle") << ", ";  // (one colour a series, both lines)
      ++k;
    }
    eg << "fpga_lo with lines dt 3 lc rgb 'black' title 'FPGA " << fmt(mo["fpga"]["energy_j_per_flip_low"]) << " J/flip (modeled)', "
       << "fpga_hi with lines dt 4 lc rgb 'black' title 'FPGA " << fmt(mo["fpga"]["energy_j_per_flip_high"]) << " J/flip (modeled)'\n";
    detail::write_file_atomically(dir + "/energy_per_flip.dat", ed.str());
    detail::write_file_atomically(dir + "/energy_per_flip.gp", eg.str());
    written.push_back(dir + "/energy_per_flip.dat");
    written.push_back(dir + "/energy_per_flip.gp");
    plots.push_back("energy_per_flip");
  }
  // An earlier suite's energy-vs-quality files, which this one (no quality runs) does not replace,
  // would be read as this run's. (A plot gnuplot fails to draw keeps the earlier PNG, as a failed
  // write keeps the earlier file, and the command says it could not draw it and that the PNG there
  // is an earlier run's: FullDisk.* tests.)
  std::error_code ec;
  if (res["quality"].empty()) {
    for (const char* ext : {".dat", ".gp", ".png"}) std::filesystem::remove(dir + "/energy_vs_quality" + ext, ec);
  }
  if (per_flip.empty()) {  // (likewise an earlier suite's energy per flip, where no row here has a reading)
    for (const char* ext : {".dat", ".gp", ".png"}) std::filesystem::remove(dir + "/energy_per_flip" + ext, ec);
  }
  // (draw_gnuplot says where gnuplot is missing: this skipped it, and said nothing, helper-114)
  for (const std::string& p : plots) {
    if (detail::draw_gnuplot(dir, p)) written.push_back(dir + "/" + p + ".png");
  }
  return written;
}

}  // namespace pbit
