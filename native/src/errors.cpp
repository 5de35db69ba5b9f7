#include "errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "batchtopk.h"

namespace btk {

namespace {
thread_local std::string last_error_message;
}

void fail(int32_t status, const std::string& message) { throw Error(status, message); }

void set_last_error(const std::string& message) { last_error_message = message; }

const char* last_error() { return last_error_message.c_str(); }

int32_t guard(const std::function<void()>& body) {
  try {
    body();
    last_error_message.clear();
    return BTK_OK;
  } catch (const Error& e) {
    set_last_error(e.what());
    return e.status();
  } catch (const c10::Error& e) {
    // what_without_backtrace keeps the message readable; the C++ backtrace means nothing in Java.
    set_last_error(std::string("libtorch: ") + e.what_without_backtrace());
    return BTK_ERR_INTERNAL;
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return BTK_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(e.what());
    return BTK_ERR_INTERNAL;
  } catch (...) {
    set_last_error("unknown native exception");
    return BTK_ERR_INTERNAL;
  }
}

}  // namespace btk
