// undocker: unpack a saved container image archive into a root filesystem.
// The only catch-all: every failure becomes one ERROR:undocker: line and
// the exit status of its class (SPEC section 1).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <system_error>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "pipeline/run.hpp"
#include "fs/writer.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"

namespace {

void prepare_process() {
  // Before any other thread exists, so that all of them block the signals.
  undocker::install_interrupt_handling(&undocker::fs::remove_path);
  // A reader that goes away is an EPIPE we unwind from (removing what is
  // temporary), not a signal that kills us mid-way.
  signal(SIGPIPE, SIG_IGN);
  // Modes come from the archive exactly; the user's umask must not mask them.
  umask(0);
  // Deep trees are walked with one descriptor per level.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace undocker;
  try {
    const cli::Options options = cli::parse_options(argc, argv);
    if (options.help) {
      std::fputs(cli::help_text().c_str(), stdout);
      return kExitOk;
    }
    if (options.version) {
      std::puts("undocker " UNDOCKER_VERSION);
      return kExitOk;
    }
    set_log_level(options.log_level);
    knobs();  // every UNDOCKER_* variable checked before anything runs
    prepare_process();
    run(options);
    if (std::fflush(stdout) != 0) {
      if (errno == EPIPE) throw OutputClosed();
      throw IoError(fmt::format("cannot write to standard output: {}", std::strerror(errno)));
    }
    return kExitOk;
  } catch (const OutputClosed&) {
    // Silent, and the status a shell reports for SIGPIPE.
    signal(SIGPIPE, SIG_DFL);
    raise(SIGPIPE);
    return 128 + SIGPIPE;
  } catch (const Error& error) {
    log(LogLevel::kError, "{}", error.what());
    for (const std::string& note : error.notes()) log_note(note);
    return error.status();
  } catch (const std::bad_alloc&) {
    log(LogLevel::kError, "out of memory");
    return kExitIo;
  } catch (const std::system_error& error) {
    log(LogLevel::kError, "{}", error.what());
    return kExitIo;
  } catch (const std::exception& error) {
    log(LogLevel::kError, "unexpected failure: {}", error.what());
    return kExitIo;
  }
}
