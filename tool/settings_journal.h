// Undoing what a bundled workload changed on the system (khugepaged knobs, a memory cgroup, a scratch file in
// /var/tmp), from the undo journal it writes before each change (workloads/journal.h): when the workload exits,
// whatever its status (SIGKILL included), and at holdscope's next start for workloads that died with an earlier run.
#pragma once
#include <sys/types.h>

#include <cstddef>

namespace holdscope {

// Undoes and forgets what the (exited) workload with this pid left in its journal. Returns the changes undone.
size_t undo_workload_changes(pid_t pid);

// The same for every journal whose workload is gone. Returns the changes undone.
size_t undo_changes_of_dead_workloads();

}  // namespace holdscope
