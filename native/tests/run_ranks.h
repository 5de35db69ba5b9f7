// The ranks of a group as threads of one test process, each joining by c10d/Gloo on 127.0.0.1.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "batchtopk.h"

// A build without c10d/Gloo headers (a pip torch ships none) leaves distributed training out: the
// tests that join a group skip there rather than fail on the refusal.
#define SKIP_WITHOUT_DISTRIBUTED() \
  if (!btk_dist_available()) GTEST_SKIP() << "this build has no c10d/Gloo: distributed training is left out"

// Runs each rank's body on its own thread and reports every rank's failure.
inline void run_ranks(int world, const std::function<void(int)>& body) {
  std::vector<std::string> failures(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; r++) {
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (const std::exception& e) {
        failures[r] = "rank " + std::to_string(r) + ": " + e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f;
}
