// Named state tensors: how parameters, optimizer moments, counters and gradients are read and
// written from outside, always in SAELens's public layouts.
#pragma once

#include "sae.h"

namespace btk {

std::vector<std::string> state_names_of(const btk_sae& sae);
// The tensor behind a name, in its public layout (a copy or a view; never written through).
torch::Tensor read_state(const btk_sae& sae, const std::string& name);
// Replaces a tensor from a caller's buffer of exactly the right size.
void write_state(btk_sae& sae, const std::string& name, const void* src, int64_t src_bytes);
int32_t btk_dtype_of(torch::ScalarType type);

}  // namespace btk
