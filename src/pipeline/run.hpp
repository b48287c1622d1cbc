// The program as a pipeline of named steps over one archive.
#pragma once

#include "cli/options.hpp"

namespace undocker {

/// Runs what the options ask for (list, layers, config or extract).
/// Throws our Error kinds; main() maps them to exit statuses.
void run(const cli::Options& options);

}  // namespace undocker
