#include "test_util.h"

Suite& suite(const std::string& name) {
  static std::map<std::string, Suite> suites;
  return suites[name];
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SUITE\n", argv[0]);
    return 2;
  }
  int failed = 0, passed = 0;
  for (auto& [name, body] : suite(argv[1])) {
    try {
      body();
      passed++;
      std::printf("PASS %s.%s\n", argv[1], name.c_str());
    } catch (const std::exception& e) {
      failed++;
      std::printf("FAIL %s.%s: %s\n", argv[1], name.c_str(), e.what());
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
