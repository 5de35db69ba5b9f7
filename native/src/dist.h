// The state behind an opaque btk_dist handle: one rank's membership of a process group.
#pragma once

#include <memory>

#include "collective.h"

struct btk_dist {
  std::unique_ptr<btk::Collective> group;
};
