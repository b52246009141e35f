// Errors: expected failures (bad file, bad argument, bad request) are dm::Error with a message that
// names the file, field or line; broken invariants are DM_CHECK (file:line). Library code never exits.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dm {

// Kind of failure; the CLI maps it to an exit code, the server to an HTTP status.
enum class ErrorKind {
  kInvalidArgument,  // the caller asked for something impossible (exit 2, HTTP 400)
  kIo,               // file missing/unreadable/unwritable (exit 3)
  kFormat,           // a file's contents are malformed (exit 4)
  kUnsupported,      // well-formed but not something we handle (exit 5)
  kSecurity,         // refused on purpose: e.g. a pickle calling a forbidden global (exit 6)
  kCapacity,         // context/KV cache/queue full (exit 7, HTTP 400/503)
  kInternal,         // a bug: a broken invariant (exit 70)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const;

 private:
  ErrorKind kind_;
};

const char* error_kind_name(ErrorKind kind);

// str_cat("a", 1, 'b') -> "a1b": builds messages without <format> (g++ 12).
template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, Args&&... args) {
  throw Error(kind, str_cat(std::forward<Args>(args)...));
}

}  // namespace dm

// Broken invariant: throws kInternal naming the source location.
#define DM_CHECK(cond, ...)                                                \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ::dm::fail(::dm::ErrorKind::kInternal, __FILE__, ":", __LINE__,      \
                 ": check failed: " #cond " " __VA_OPT__(, ) __VA_ARGS__); \
    }                                                                      \
  } while (0)
