// pbit compare: throughput and measured energy beside modeled p-bit hardware (docs/CLI.md, 'Model and suite configs': the comparison suite).
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "pbit/core/io.hpp"
#include "pbit/harness/compare.hpp"

namespace pbit::cli {

void add_compare_commands(Commands& c) {
  struct Opt {
    std::string suite, out;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = c.app->add_subcommand(
      "compare", "Runs a comparison suite: flips/ns and measured energy per workload, backend and chain count, beside modeled "
                 "FPGA, RNG-chip and p-DNN platforms; writes results.json, results.md and plots (gnuplot)");
  s->add_option("--suite", o->suite, "suite file (configs/compare_*.json)")->required();
  s->add_option("--out", o->out, "replaces the suite's output_dir");
  s->footer("Suite keys (workloads, backends, chains, min_seconds, idle_seconds, threads, platforms, output_dir, quality): docs/CLI.md, "
            "'Model and suite configs'.");
  c.add(s, [o] {
    CompareSuite suite = parse_compare_suite(read_json_file(o->suite));
    if (!o->out.empty()) suite.output_dir = o->out;
    make_directories(suite.output_dir);  // before the measurements, not after them
    check_writable(suite.output_dir + "/results.json");
    const nlohmann::json res = run_compare(suite, true);
    for (const std::string& f : write_compare_outputs(res, suite.output_dir)) std::cerr << "wrote " << f << "\n";
    std::ifstream md(suite.output_dir + "/results.md");
    std::cout << md.rdbuf();
    // Rows that failed are in the files (with their errors) beside the rows that were measured; the
    // run still fails, so that a script sees it.
    int64_t failed = 0;
    for (const auto& r : res["results"]) failed += r.contains("error") ? 1 : 0;
    if (failed > 0) {
      throw InvalidArgument(std::to_string(failed) + " of " + std::to_string(res["results"].size()) +
                            " rows failed (their errors are in results.json and results.md; the other rows were measured)");
    }
    return 0;
  });
}

}  // namespace pbit::cli
