#include "process_group.h"

#include <c10/util/Exception.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "batchtopk.h"
#include "errors.h"

#ifdef BTK_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace btk {

namespace {

// The text of what libtorch or gloo threw, without a C++ backtrace that means nothing to a user.
std::string reason(const std::exception& e) {
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

void check_arguments(int rank, int world_size, const std::string& master_addr, int master_port,
                     std::chrono::milliseconds timeout) {
  if (world_size < 1)
    fail(BTK_ERR_INVALID_ARGUMENT, "world size must be at least 1, got " + std::to_string(world_size));
  if (rank < 0 || rank >= world_size) {
    fail(BTK_ERR_INVALID_ARGUMENT, "rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world_size - 1) +
                                       " (world size " + std::to_string(world_size) + ")");
  }
  if (master_addr.empty()) fail(BTK_ERR_INVALID_ARGUMENT, "the master address is empty");
  if (master_port < 1 || master_port > 65535) {
    fail(BTK_ERR_INVALID_ARGUMENT, "master port " + std::to_string(master_port) + " is outside 1..65535");
  }
  if (timeout.count() <= 0)
    fail(BTK_ERR_INVALID_ARGUMENT, "the timeout must be positive, got " + std::to_string(timeout.count()) + " ms");
}

#ifdef BTK_HAVE_GLOO

// Whether a listening socket holds the port already. Checked before the store starts, because the
// store's own failure to bind reads like any other failure to meet.
bool port_in_use(int port, std::string& why) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as the store does: TIME_WAIT is no obstacle
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool in_use = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
  if (in_use) why = std::strerror(errno);
  close(fd);
  return in_use;
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

class GlooGroup final : public Collective {
 public:
  GlooGroup(int rank, int world_size, const std::string& master_addr, int master_port,
            std::chrono::milliseconds timeout)
      : rank_(rank), size_(world_size) {
    const std::string where = master_addr + ":" + std::to_string(master_port);
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(master_port);
    store_options.isServer = rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    std::string why;
    if (rank == 0 && port_in_use(master_port, why)) {
      fail(BTK_ERR_COMMUNICATION, "rank 0 cannot host the rendezvous store on " + where + ": port " +
                                      std::to_string(master_port) + " is in use (" + why + ")");
    }
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(master_addr, store_options);
    } catch (const std::exception& e) {
      fail(BTK_ERR_COMMUNICATION, "rank " + std::to_string(rank) + " could not meet the group of " +
                                      std::to_string(world_size) + " at " + where + " within " +
                                      std::to_string(timeout.count()) + " ms: " + reason(e));
    }
    try {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(transport_device(master_addr));
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank, world_size, options);
    } catch (const std::exception& e) {
      fail(BTK_ERR_COMMUNICATION, "rank " + std::to_string(rank) +
                                      " could not connect to the other ranks of the group at " + where + " within " +
                                      std::to_string(timeout.count()) + " ms: " + reason(e));
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int64_t bytes_reduced() const override { return bytes_; }

  void all_reduce(torch::Tensor& t, Reduction op) override {
    std::vector<at::Tensor> tensors{t};
    c10d::AllreduceOptions options;
    options.reduceOp = op == Reduction::kSum   ? c10d::ReduceOp::SUM
                       : op == Reduction::kMin ? c10d::ReduceOp::MIN
                                               : c10d::ReduceOp::MAX;
    try {
      group_->allreduce(tensors, options)->wait();
    } catch (const std::exception& e) {
      fail(BTK_ERR_COMMUNICATION, "rank " + std::to_string(rank_) + " lost the group of " + std::to_string(size_) +
                                      " (another rank died, hung or left): " + reason(e));
    }
    bytes_ += t.numel() * static_cast<int64_t>(t.element_size());
  }

 private:
  // The interface gloo's connections use: GLOO_SOCKET_IFNAME as torch.distributed reads it, the
  // loopback when the group meets there, else the address this machine's host name resolves to.
  static std::shared_ptr<::gloo::transport::Device> transport_device(const std::string& master_addr) {
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0') {
      return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
    }
    if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname(master_addr);
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }

  int rank_, size_;
  int64_t bytes_ = 0;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

#endif

}  // namespace

bool process_groups_available() {
#ifdef BTK_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Collective> join_process_group(int rank, int world_size, const std::string& master_addr,
                                               int master_port, std::chrono::milliseconds timeout) {
  check_arguments(rank, world_size, master_addr, master_port, timeout);
#ifdef BTK_HAVE_GLOO
  return std::make_unique<GlooGroup>(rank, world_size, master_addr, master_port, timeout);
#else
  fail(BTK_ERR_DEVICE,
       "this build of batchtopk has no distributed support: the libtorch it was built with lacks "
       "c10d's Gloo backend or gloo's headers (on Debian: apt-get install libgloo-dev, then rebuild)");
#endif
}

}  // namespace btk
