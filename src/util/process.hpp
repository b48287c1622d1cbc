// Whether another run of ours is still going: the staging names of -o and
// of the layer store carry their PID, and only a dead run's are removed.
#pragma once

#include <sys/types.h>

namespace undocker {

/// False for a PID no process has, and for a zombie: a run killed with its
/// parent (bwrap --die-with-parent, say) may wait long for a reaper, and
/// will never finish what it staged.
bool process_alive(pid_t pid);

}  // namespace undocker
