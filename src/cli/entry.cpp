// The `pbit` executable: the commands of src/cli (pbit::cli::run), which the Python module also runs
// in-process (pbit.cli).
#include "cli.hpp"

int main(int argc, char** argv) { return pbit::cli::run(argc, argv); }
