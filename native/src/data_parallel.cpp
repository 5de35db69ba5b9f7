#include "data_parallel.h"

#include <limits>

namespace btk {

double DataParallel::sum(double local) const {
  auto t = torch::tensor({local}, torch::kFloat64);
  group.all_reduce(t, Reduction::kSum);
  return t.item<double>();
}

int64_t DataParallel::sum(int64_t local) const {
  auto t = torch::tensor({local}, torch::kInt64);
  group.all_reduce(t, Reduction::kSum);
  return t.item<int64_t>();
}

double DataParallel::min(double local) const {
  auto t = torch::tensor({local}, torch::kFloat64);
  group.all_reduce(t, Reduction::kMin);
  return t.item<double>();
}

torch::Tensor DataParallel::any(const torch::Tensor& local) const {
  auto t = local.to(torch::kUInt8).contiguous();
  group.all_reduce(t, Reduction::kMax);
  return t.to(torch::kBool);
}

double DataParallel::total_variance(const torch::Tensor& x) const {
  auto column_sums = x.sum(0, false, torch::kFloat64).contiguous();
  group.all_reduce(column_sums, Reduction::kSum);
  auto mean = (column_sums / double(global_rows)).to(x.scalar_type());
  return sum((x - mean).pow(2).sum().item<double>());
}

void DataParallel::sum_gradients(Gradients& g, int64_t d_sae) const {
  const int64_t d = g.b_dec.size(0);
  auto touched = torch::zeros({d_sae}, torch::kBool);
  if (g.rows.defined()) {
    touched.index_fill_(0, g.rows, true);
  } else {
    touched.fill_(true);
  }
  auto rows = any(touched).nonzero().flatten().contiguous();
  const int64_t n = rows.size(0);
  // One buffer, one all-reduce: [W_encT rows | W_dec rows | b_enc | b_dec].
  auto buffer = torch::zeros({2 * n * d + n + d}, g.b_dec.options());
  auto W_encT = buffer.narrow(0, 0, n * d).view({n, d});
  auto W_dec = buffer.narrow(0, n * d, n * d).view({n, d});
  auto b_enc = buffer.narrow(0, 2 * n * d, n);
  auto b_dec = buffer.narrow(0, 2 * n * d + n, d);
  if (g.rows.defined() && g.rows.numel() > 0) {
    // Where this rank's rows sit among the union's.
    auto slots = torch::searchsorted(rows, g.rows);
    W_encT.index_copy_(0, slots, g.W_encT);
    W_dec.index_copy_(0, slots, g.W_dec);
    b_enc.index_copy_(0, slots, g.b_enc);
  } else if (!g.rows.defined()) {
    W_encT.copy_(g.W_encT);
    W_dec.copy_(g.W_dec);
    b_enc.copy_(g.b_enc);
  }
  b_dec.copy_(g.b_dec);
  group.all_reduce(buffer, Reduction::kSum);
  g.rows = rows;
  g.W_encT = W_encT;
  g.W_dec = W_dec;
  g.b_enc = b_enc;
  g.b_dec = b_dec;
}

DataParallel data_parallel_layout(Collective& group, int64_t local_rows) {
  DataParallel layout{group, 0};
  layout.global_rows = layout.sum(local_rows);
  return layout;
}

}  // namespace btk
