// Joining a c10d process group: a TCPStore that rank 0 hosts to meet, ProcessGroupGloo to talk.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "collective.h"

namespace btk {

// Whether this build has c10d with Gloo (the libtorch found shipped it, with gloo's headers).
bool process_groups_available();

// Blocks until all `world_size` ranks have joined at master_addr:master_port, or fails after
// `timeout` with a btk::Error naming what went wrong. The timeout also bounds every collective.
std::unique_ptr<Collective> join_process_group(int rank, int world_size, const std::string& master_addr,
                                               int master_port, std::chrono::milliseconds timeout);

}  // namespace btk
