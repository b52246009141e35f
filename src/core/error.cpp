#include "devops_model/core/error.h"

namespace dm {

int Error::exit_code() const {
  switch (kind_) {
    case ErrorKind::kInvalidArgument: return 2;
    case ErrorKind::kIo: return 3;
    case ErrorKind::kFormat: return 4;
    case ErrorKind::kUnsupported: return 5;
    case ErrorKind::kSecurity: return 6;
    case ErrorKind::kCapacity: return 7;
    case ErrorKind::kInternal: return 70;
  }
  return 70;
}

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kIo: return "I/O error";
    case ErrorKind::kFormat: return "format error";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kSecurity: return "refused";
    case ErrorKind::kCapacity: return "capacity exceeded";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace dm
