// Failures inside the shim: a status code plus a message, turned into a C return value at the
// boundary so that no C++ exception ever reaches the JVM.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace btk {

// An error the shim raises on purpose, with the status the C caller sees.
class Error : public std::runtime_error {
 public:
  Error(int32_t status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int32_t status() const { return status_; }

 private:
  int32_t status_;
};

[[noreturn]] void fail(int32_t status, const std::string& message);

void set_last_error(const std::string& message);
const char* last_error();

// Runs body, converting every exception into a status code and the thread's last-error message;
// a success clears the message. The message names the problem, not the function: the caller knows
// which call failed (the Java layer puts the function's name in front).
int32_t guard(const std::function<void()>& body);

}  // namespace btk
