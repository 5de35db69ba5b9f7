// The C entry points of process groups (the data-parallel step itself is in api.cpp, beside the step).
#include <chrono>
#include <cstring>

#include "batchtopk.h"
#include "dist.h"
#include "errors.h"
#include "process_group.h"

#define BTK_EXPORT extern "C" __attribute__((visibility("default")))

using namespace btk;

BTK_EXPORT int32_t btk_dist_available(void) { return process_groups_available() ? 1 : 0; }

BTK_EXPORT int32_t btk_dist_create(int32_t rank, int32_t world_size, const char* master_addr, int32_t master_port,
                                   int64_t timeout_ms, btk_dist** out) {
  return guard([&] {
    if (out == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (master_addr == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, "master_addr is NULL");
    auto dist = std::make_unique<btk_dist>();
    dist->group = join_process_group(rank, world_size, master_addr, master_port, std::chrono::milliseconds(timeout_ms));
    *out = dist.release();
  });
}

BTK_EXPORT void btk_dist_destroy(btk_dist* dist) { delete dist; }

BTK_EXPORT int64_t btk_dist_bytes_reduced(const btk_dist* dist) {
  return dist == nullptr ? -1 : dist->group->bytes_reduced();
}

BTK_EXPORT int32_t btk_dist_sum(btk_dist* dist, double* values, int64_t count) {
  return guard([&] {
    if (dist == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, "dist is NULL");
    if (values == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, "values is NULL");
    if (count < 1) fail(BTK_ERR_INVALID_ARGUMENT, "count must be positive, got " + std::to_string(count));
    auto t = torch::from_blob(values, {count}, torch::kFloat64).clone();
    dist->group->all_reduce(t, Reduction::kSum);
    std::memcpy(values, t.data_ptr<double>(), static_cast<size_t>(count) * sizeof(double));
  });
}
